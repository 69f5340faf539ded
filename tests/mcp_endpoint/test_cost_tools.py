"""get_cost_attribution_gap answers exactly what the cost selector says, in cents, as strings."""

from __future__ import annotations

import json
from pathlib import Path

from compliance import reads
from compliance.core import costs
from compliance.permissions.accounts import Operator
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import FOCUS_HEADER, FOCUS_ROWS, build_estate, write_csv
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post


def test_cost_tool_matches_the_selector_to_the_cent(
    transactional_db: None, superuser, tmp_path: Path
) -> None:
    build_estate()
    do_import_costs(
        str(write_csv(tmp_path / "focus.csv", FOCUS_HEADER, FOCUS_ROWS)), acting=Operator()
    )
    expected = reads.cost_attribution(Operator())
    key = make_key(superuser)

    status, body, _ = post(tool_call("get_cost_attribution_gap"), key=key)

    assert status == 200
    result = json.loads(body["result"]["content"][0]["text"])
    assert result["cost_source"] == "focus"
    for field, value in (
        ("total_spend", expected.total_spend),
        ("attributable_spend", expected.attributable_spend),
        ("attribution_gap", expected.attribution_gap),
        ("unattributable_spend", expected.unattributable_spend),
    ):
        assert result[field] == str(costs.to_cents(value)), field
    assert result["untagged_spend"] == {
        k: str(costs.to_cents(v)) for k, v in expected.untagged_spend.items()
    }
