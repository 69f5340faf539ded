"""get_spend_by_tag over HTTP with an API key: the reader's numbers in cents, as the command
prints them, paged, within the caller's accounts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from compliance import reads
from compliance.core import costs
from compliance.models import AwsAccount, Resource
from compliance.permissions.accounts import Operator
from tests.compliance.billing.bills import I_CCC, A, B
from tests.compliance.test_showback import KEY, build_showback_estate
from tests.conftest import grant
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post

NUMBERS = (
    "tag_key",
    "billing_period_start",
    "currency",
    "cost_source",
    "rows",
    "untagged_spend",
    "invalid_spend",
    "unattributable_spend",
    "unmatched_resource_spend",
    "total_spend",
)


@pytest.fixture
def estate(transactional_db: None, tmp_path: Path) -> None:
    build_showback_estate(tmp_path)


def call(key: str, arguments: dict[str, Any]) -> dict[str, Any]:
    status, body, _ = post(tool_call("get_spend_by_tag", arguments), key=key)
    assert status == 200
    result = body["result"]
    assert result["isError"] is False, result["content"]
    return dict(result["structuredContent"])


def refusal(key: str, arguments: dict[str, Any]) -> str:
    status, body, _ = post(tool_call("get_spend_by_tag", arguments), key=key)
    assert status == 200
    assert body["result"]["isError"] is True
    return str(body["result"]["content"][0]["text"])


def test_the_tool_the_command_and_the_reader_agree(estate: None, superuser: User) -> None:
    expected = reads.spend_by_tag(Operator(), KEY)
    out = io.StringIO()
    call_command("showback", "--tag", KEY, stdout=out)
    printed = json.loads(out.getvalue())

    result = call(make_key(superuser), {"tag_key": KEY})

    assert result["rows"] == [
        {
            "value": row.value,
            "spend": str(costs.to_cents(row.spend)),
            "resource_count": row.resource_count,
            "valid": row.valid,
            "allocated_spend": str(costs.to_cents(row.allocated_spend)),
            "allocated_resource_count": row.allocated_resource_count,
            "allocated_by": [],
            "shared_spend": "0.00",
        }
        for row in expected.rows
    ]
    assert result["total_spend"] == str(costs.to_cents(expected.total_spend)) == "140.88"
    assert {name: result[name] for name in NUMBERS} == {name: printed[name] for name in NUMBERS}
    assert result["next_cursor"] is None
    assert expected.scan is not None
    assert result["scan"]["id"] == expected.scan["id"]


def test_every_row_is_on_exactly_one_page(estate: None, superuser: User) -> None:
    key = make_key(superuser)
    first = call(key, {"tag_key": KEY, "limit": 1})
    second = call(key, {"tag_key": KEY, "limit": 1, "cursor": first["next_cursor"]})

    assert [row["value"] for row in first["rows"] + second["rows"]] == ["cc-200", "cc-100"]
    assert second["next_cursor"] is None
    assert first["total_spend"] == second["total_spend"] == "140.88"


def test_a_cursor_of_another_key_is_refused(estate: None, superuser: User) -> None:
    key = make_key(superuser)
    first = call(key, {"tag_key": KEY, "limit": 1})

    message = refusal(key, {"tag_key": "Owner", "limit": 1, "cursor": first["next_cursor"]})

    assert "different query" in message


def test_a_key_of_one_account_sees_only_its_spend(estate: None, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))

    result = call(make_key(alice), {"tag_key": KEY})

    assert [(row["value"], row["spend"]) for row in result["rows"]] == [("cc-100", "28.57")]
    assert (result["unattributable_spend"], result["total_spend"]) == ("14.19", "52.88")


def test_another_account_is_refused(estate: None, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))

    message = refusal(make_key(alice), {"tag_key": KEY, "accounts": [B]})

    assert B in message


def test_narrowing_to_an_account(estate: None, superuser: User) -> None:
    result = call(make_key(superuser), {"tag_key": KEY, "accounts": [B]})

    assert [(row["value"], row["spend"]) for row in result["rows"]] == [("cc-200", "80.00")]
    assert result["total_spend"] == "88.00"


def test_an_unknown_period_is_a_clear_error(estate: None, superuser: User) -> None:
    message = refusal(make_key(superuser), {"tag_key": KEY, "billing_period": "2024-04"})

    assert "billing_period: no bill is loaded for 2024-04" in message


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"tag_key": ""},
        {"tag_key": "Owner\u200b"},
        {"tag_key": KEY, "billing_period": "2024-5"},
        {"tag_key": KEY, "billing_period": "2024-05-01"},
        {"tag_key": KEY, "accounts": ["12345"]},
    ],
    ids=["no_key", "empty_key", "hidden_character", "short_month", "full_date", "short_account"],
)
def test_bad_arguments_are_refused(estate: None, superuser: User, arguments: Any) -> None:
    refusal(make_key(superuser), arguments)


def test_tag_values_are_shown_as_data(estate: None, superuser: User) -> None:
    Resource.objects.filter(arn=I_CCC).update(tags={"Team": "red\u200bteam"})

    result = call(make_key(superuser), {"tag_key": "Team"})

    assert [row["value"] for row in result["rows"]] == ["red⟨U+200B⟩team"]
