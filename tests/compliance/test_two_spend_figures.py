"""Untagged spend (the key is absent) and non-compliant spend (any violation of the key): two
figures, one definition, the same numbers on every page, tool, report and command.

The estate: five instances of one account judged by the real policy engine against ``Owner``
(allowed values alice and bob): one without the key, one with ``carol``, one with a key that
reads ``Owner`` but holds a zero-width space, one with ``owner``, one compliant. The May FOCUS
bill charges each of them, plus tax and an instance the inventory does not hold, so that by
hand:

- untagged ``Owner`` = missing 10.01 + hidden 30.03 + wrong case 5.05 = 45.09;
- non-compliant ``Owner`` = 45.09 + invalid 20.02 = 65.11;
- total = 105.15 on the five + tax 1.11 + unmatched 2.22 = 108.48.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html import unescape
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from compliance import reads
from compliance.core import policy
from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy, Violation
from compliance.models.inventory import AttributedCost, CostAttributionState
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.reads import reports
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import FOCUS_HEADER, focus_row, write_csv
from tests.compliance.views.conftest import signed_in
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post

pytestmark = pytest.mark.django_db(transaction=True)

A = "111111111111"
REGION = "us-east-1"
DOCUMENT = {
    "required_tags": [{"name": "Owner", "allowed_values": ["alice", "bob"]}, {"name": "Project"}]
}
#: name -> (tags, effective cost of each of its bill lines)
ESTATE: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "i-missing": ({"Project": "p"}, ("7.50", "2.51")),
    "i-invalid": ({"Owner": "carol", "Project": "p"}, ("20.02",)),
    "i-hidden": ({"Own\u200ber": "alice", "Project": "p"}, ("30.03",)),
    "i-case": ({"owner": "alice", "Project": "p"}, ("5.05",)),
    "i-ok": ({"Owner": "bob", "Project": "p"}, ("40.04",)),
}
UNTAGGED = {"Owner": "45.09", "Project": "0.00"}
NONCOMPLIANT = {"Owner": "65.11", "Project": "0.00"}
TOTAL = "108.48"


def arn(name: str) -> str:
    return f"arn:aws:ec2:{REGION}:{A}:instance/{name}"


@pytest.fixture
def billed(transactional_db: None, tmp_path: Path) -> None:
    """The estate of the module docstring, judged as a scan judges it, and its bill imported."""
    now = timezone.now()
    judging = policy.policy_from_dict(DOCUMENT)
    policy_row = TaggingPolicy.objects.create(
        version=1, source_format="mcp_json", document=DOCUMENT, source_text="{}", is_active=True
    )
    scan = Scan.objects.create(status=Scan.Status.COMPLETE, policy=policy_row, finished_at=now)
    account = AwsAccount.objects.create(account_id=A, name="prod")
    for name, (tags, _) in ESTATE.items():
        findings = policy.evaluate(judging, "ec2:instance", tags)
        resource = Resource.objects.create(
            arn=arn(name),
            account=account,
            region=REGION,
            resource_type="ec2:instance",
            tags=tags,
            first_seen_at=now,
            last_seen_at=now,
            last_seen_scan=scan,
            is_compliant=not findings,
            violation_count=len(findings),
        )
        for finding in findings:
            Violation.objects.create(
                resource=resource,
                scan=scan,
                policy=policy_row,
                violation_type=finding.violation_type,
                tag_name=finding.tag_name,
                current_value=finding.current_value,
                expected=finding.expected,
                first_detected_at=now,
            )
    rows = [
        focus_row(A, REGION, "Amazon EC2", arn(name), "Usage", cost, cost)
        for name, (_, line_costs) in ESTATE.items()
        for cost in line_costs
    ]
    rows += [
        focus_row(A, "", "Amazon EC2", "", "Tax", "1.11", "1.11"),
        focus_row(A, REGION, "Amazon EC2", arn("i-gone"), "Usage", "2.22", "2.22"),
    ]
    do_import_costs(str(write_csv(tmp_path / "focus.csv", FOCUS_HEADER, rows)), acting=Operator())


def cents(figures: dict[str, Decimal]) -> dict[str, str]:
    return {key: f"{amount:.2f}" for key, amount in figures.items()}


def key_table(html: str, marker: str) -> dict[str, list[str]]:
    """The rows of the per-key table found after ``marker``: key -> the cells after it."""
    body = html.split(marker, 1)[1].split("</table>", 1)[0]
    rows = [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]
    ]
    return {row[0]: row[1:] for row in rows}


def page(user: User, url: str) -> str:
    response = signed_in(user, Role.ADMIN).get(url)
    assert response.status_code == 200
    return unescape(response.content.decode())


def tool(user: User, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    status, body, _ = post(tool_call(name, arguments), key=make_key(user))
    assert status == 200
    result: dict[str, Any] = json.loads(body["result"]["content"][0]["text"])
    return result


def test_the_read_tells_absent_keys_from_any_violation(billed: None) -> None:
    figures = reads.cost_attribution(Operator())
    assert figures.untagged_spend == {"Owner": Decimal("45.09"), "Project": Decimal(0)}
    assert figures.noncompliant_spend == {"Owner": Decimal("65.11"), "Project": Decimal(0)}
    assert f"{figures.total_spend:.2f}" == TOTAL


def test_computed_and_stored_figures_agree(billed: None) -> None:
    """With the stored attribution gone, the figures are computed from the lines: the same."""
    CostAttributionState.objects.all().delete()
    figures = reads.cost_attribution(Operator())
    assert cents(figures.untagged_spend) == UNTAGGED
    assert cents(figures.noncompliant_spend) == NONCOMPLIANT


def test_the_overview_shows_both_with_their_definitions(billed: None, charlie: User) -> None:
    html = page(charlie, "/")
    assert key_table(html, 'id="key-spend"') == {
        "Owner": ["$45.09", "$65.11"],
        "Project": ["$0.00", "$0.00"],
    }
    assert "Untagged spend — the key is absent" in html
    assert "Non-compliant spend — the key is absent or its value violates the policy" in html


def test_the_violations_page_shows_both(billed: None, charlie: User) -> None:
    html = page(charlie, "/violations/")
    assert key_table(html, 'id="key-spend"') == {
        "Owner": ["$45.09", "$65.11"],
        "Project": ["$0.00", "$0.00"],
    }
    assert "Untagged spend — the key is absent" in html


def test_the_violations_page_narrowed_to_a_key_shows_that_key(billed: None, charlie: User) -> None:
    html = page(charlie, "/violations/?tag=Owner")
    assert key_table(html, 'id="key-spend"') == {"Owner": ["$45.09", "$65.11"]}


def test_the_costs_page_shows_both(billed: None, charlie: User) -> None:
    html = page(charlie, "/costs/")
    assert key_table(html, 'aria-labelledby="untagged"') == {
        "Owner": ["$45.09", "$65.11", "Violations of Owner"],
        "Project": ["$0.00", "$0.00", "Violations of Project"],
    }
    assert "Non-compliant spend — the key is absent or its value violates the policy" in html


def test_the_gap_tool_over_http_gives_both(billed: None, superuser: User) -> None:
    result = tool(superuser, "get_cost_attribution_gap")
    assert result["untagged_spend"] == UNTAGGED
    assert result["noncompliant_spend"] == NONCOMPLIANT
    assert result["total_spend"] == TOTAL


def test_the_report_tool_over_http_gives_both(billed: None, superuser: User) -> None:
    result = tool(superuser, "generate_compliance_report", {"format": "json"})
    assert result["untagged_spend"] == UNTAGGED
    assert result["noncompliant_spend"] == NONCOMPLIANT


def test_the_report_json_and_markdown_give_both(billed: None) -> None:
    report = reports.build_report(Operator())
    assert json.loads(reports.render_json(report))["noncompliant_spend"] == NONCOMPLIANT
    assert report["untagged_spend"] == UNTAGGED
    markdown = reports.render_markdown(report).splitlines()
    assert "| Owner | 45.09 | 65.11 |" in markdown
    assert "| Project | 0.00 | 0.00 |" in markdown


def test_the_report_command_gives_both(billed: None) -> None:
    out = StringIO()
    call_command("report", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["untagged_spend"] == UNTAGGED
    assert report["noncompliant_spend"] == NONCOMPLIANT
    assert report["total_spend"] == TOTAL


def test_figures_stored_before_the_split_are_not_read(billed: None) -> None:
    """Rows stored by an older refresh (no absent key marked) would read as no untagged spend:
    they are not used, and the figures are computed until the next refresh."""
    state = CostAttributionState.objects.get()
    state.money = {
        account: {k: v for k, v in money.items() if k != "rows"}
        for account, money in state.money.items()
    }
    state.save(update_fields=["money"])
    AttributedCost.objects.filter(kind=AttributedCost.Kind.UNTAGGED).update(violation_type="")
    figures = reads.cost_attribution(Operator())
    assert cents(figures.untagged_spend) == UNTAGGED
    assert cents(figures.noncompliant_spend) == NONCOMPLIANT
