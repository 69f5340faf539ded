"""Compliance from the bill: resources the bill charges and the inventory does not hold,
judged against the policy from their tags on the bill, counted apart (``source: bill``).

The bill is the hand-made FOCUS bill of ``tests.compliance.billing.bills`` with a Tags column,
plus resources no inventory holds:

- ``i-0zzz`` (5.55, account A): every required tag right: compliant;
- ``i-0new1`` (12.34 = 10.00 + 2.34, A): fully tagged on 2 May, only Owner from 20 May, so
  the latest tags miss Environment and Project;
- bucket ``other-bucket`` (1.11, A): ``owner`` for Owner (wrong_key_case);
- ``i-0bad`` (2.00, B): Environment ``staging``, not an allowed value (invalid_value);
- ``i-0none`` (0.50, A): a NULL Tags cell: every required tag missing.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from compliance import reads
from compliance.core import costs
from compliance.models import AwsAccount, BilledResource
from compliance.permissions.accounts import Operator
from compliance.reads.resources import ResourceFilter
from compliance.writes.costs import do_import_costs
from compliance.writes.policy import do_import_policy
from tests.compliance.billing.bills import (
    ATTRIBUTABLE,
    CUR_HEADER,
    FOCUS_HEADER,
    FOCUS_ROWS,
    GAP,
    I_AAA,
    TOTAL,
    UNATTRIBUTABLE,
    A,
    B,
    build_estate,
    cur_row,
    focus_row,
    write_csv,
    write_focus_parquet,
)
from tests.conftest import grant

pytestmark = pytest.mark.django_db

POLICY = {
    "required_tags": [
        {"name": "Owner"},
        {"name": "Environment", "allowed_values": ["prod", "dev"]},
        {"name": "Project"},
    ]
}
NEW1 = f"arn:aws:ec2:us-east-1:{A}:instance/i-0new1"
OTHER_BUCKET = "arn:aws:s3:::other-bucket"
BAD = f"arn:aws:ec2:eu-west-1:{B}:instance/i-0bad"
RIGHT = {"user:Owner": "ann", "user:Environment": "prod", "user:Project": "p"}


def _row(row: list[str], tags: dict[str, str] | None, charged_from: str = "") -> list[str]:
    row = list(row)
    if charged_from:
        row[3] = charged_from
    return [*row, "NULL" if tags is None else json.dumps(tags)]


def _usage(account: str, region: str, resource: str, cost: str) -> list[str]:
    return focus_row(account, region, "Amazon EC2", resource, "Usage", cost, cost)


TAGGED_HEADER = [*FOCUS_HEADER, "Tags"]
TAGGED_ROWS = [
    *(
        _row(r, {"user:CostCenter": "cc-1"} if r[7] == I_AAA else {})
        for r in FOCUS_ROWS
        if r[7] != "i-0zzz"
    ),
    _row(_usage(A, "us-east-1", "i-0zzz", "5.55"), {**RIGHT, "aws:createdBy": "AROA1"}),
    _row(_usage(A, "us-east-1", NEW1, "10.00"), {"user:Owner": "bob"}, "2024-05-20T00:00:00Z"),
    _row(_usage(A, "us-east-1", NEW1, "2.34"), RIGHT, "2024-05-02T00:00:00Z"),
    _row(
        _usage(A, "us-east-1", OTHER_BUCKET, "1.11"),
        {"user:owner": "x", "user:Environment": "dev", "user:Project": "p"},
    ),
    _row(_usage(B, "eu-west-1", BAD, "2.00"), {**RIGHT, "user:Environment": "staging"}),
    _row(_usage(A, "us-east-1", "i-0none", "0.50"), None),
]

EXTRA = Decimal("12.34") + Decimal("1.11") + Decimal("2.00") + Decimal("0.50")
BY_BILL = Decimal("5.55") + EXTRA
BILL_GAP = Decimal("15.95")


@pytest.fixture
def estate() -> None:
    build_estate()
    do_import_policy(json.dumps(POLICY), acting=Operator())


def _import(path: Path) -> None:
    do_import_costs(str(path), acting=Operator())


@pytest.fixture
def tagged_bill(estate: None, tmp_path: Path) -> None:
    _import(write_csv(tmp_path / "focus.csv", TAGGED_HEADER, TAGGED_ROWS))


def test_bill_judged_figures_are_exact(tagged_bill: None) -> None:
    result = reads.cost_attribution(Operator())
    assert result.total_spend == TOTAL + EXTRA
    # The four buckets keep their meaning: the bill-judged spend stays unmatched.
    assert (result.attributable_spend, result.attribution_gap) == (ATTRIBUTABLE, GAP)
    assert result.unmatched_resource_spend == BY_BILL
    judged = result.judged_by_bill
    assert (judged.spend, judged.gap) == (BY_BILL, BILL_GAP)
    assert (judged.resource_count, judged.noncompliant_count) == (5, 4)
    assert judged.untagged_spend == {
        "Environment": Decimal("12.84"),
        "Owner": Decimal("1.61"),
        "Project": Decimal("12.84"),
    }
    assert judged.noncompliant_spend == {
        "Environment": Decimal("14.84"),
        "Owner": Decimal("1.61"),
        "Project": Decimal("12.84"),
    }
    assert judged.keys_on_bill == [
        "CostCenter",
        "Environment",
        "Owner",
        "Project",
        "aws:createdBy",
        "owner",
    ]
    assert judged.bill_has_tags is True
    assert judged.note == costs.BILL_TAGS_NOTE
    assert result.attribution_gap_with_bill == GAP + BILL_GAP
    split = result.judged
    assert split.by_scan == ATTRIBUTABLE + GAP
    assert split.by_bill == BY_BILL
    assert split.not_judged == UNATTRIBUTABLE
    assert split.by_scan + split.by_bill + split.not_judged == result.total_spend


def test_each_violation_is_stored_with_its_resource(tagged_bill: None) -> None:
    stored = {
        row.resource_id: (row.resource_type, row.in_inventory, row.is_compliant, row.violations)
        for row in BilledResource.objects.all()
    }
    assert stored["i-0zzz"] == ("", False, True, [])
    assert stored[NEW1] == (
        "ec2:instance",
        False,
        False,
        [
            {"tag_key": "Environment", "violation_type": "missing_required_tag"},
            {"tag_key": "Project", "violation_type": "missing_required_tag"},
        ],
    )
    assert stored[OTHER_BUCKET][3] == [{"tag_key": "Owner", "violation_type": "wrong_key_case"}]
    assert stored[BAD][3] == [{"tag_key": "Environment", "violation_type": "invalid_value"}]
    assert len(stored["i-0none"][3]) == 3
    assert stored[I_AAA][1:] == (True, None, [])
    assert BilledResource.objects.get(resource_id=NEW1).effective_cost == Decimal("12.34")


def test_costliest_violating_resources_are_listed_as_from_the_bill(tagged_bill: None) -> None:
    listed = reads.cost_attribution(Operator()).bill_judged_resources
    assert [(r.resource_id, r.account_id, r.spend) for r in listed] == [
        (NEW1, A, Decimal("12.34")),
        (BAD, B, Decimal("2.00")),
        (OTHER_BUCKET, A, Decimal("1.11")),
        ("i-0none", A, Decimal("0.50")),
    ]


def test_the_same_figures_from_parquet(estate: None, tmp_path: Path) -> None:
    path = tmp_path / "focus.parquet"
    write_focus_parquet(path, [row[:-1] for row in TAGGED_ROWS])
    import pyarrow.parquet as pq

    table = pq.read_table(path).append_column("Tags", [[row[-1] for row in TAGGED_ROWS]])
    pq.write_table(table, path)
    _import(path)
    judged = reads.cost_attribution(Operator()).judged_by_bill
    assert (judged.spend, judged.gap, judged.noncompliant_count) == (BY_BILL, BILL_GAP, 4)


def test_a_cur_bill_is_judged_from_resource_tags(estate: None, tmp_path: Path) -> None:
    header = [*CUR_HEADER, "resource_tags"]
    rows = [
        [*cur_row("Usage", "i-0cur1", "3.00"), json.dumps({"user_Owner": "ann"})],
        [
            *cur_row("Usage", "i-0cur2", "4.00"),
            json.dumps({f"user_{k[5:]}": v for k, v in RIGHT.items()}),
        ],
        [*cur_row("Tax", "", "1.00"), ""],
    ]
    _import(write_csv(tmp_path / "cur.csv", header, rows))
    result = reads.cost_attribution(Operator())
    assert result.cost_source == "cur"
    judged = result.judged_by_bill
    assert (judged.spend, judged.gap, judged.resource_count) == (
        Decimal("7.00"),
        Decimal("3.00"),
        2,
    )
    assert judged.keys_on_bill == ["Environment", "Owner", "Project"]
    assert result.judged.not_judged == Decimal("1.00")


def test_a_bill_without_tags_judges_nothing(estate: None, tmp_path: Path) -> None:
    _import(write_csv(tmp_path / "focus.csv", FOCUS_HEADER, FOCUS_ROWS))
    result = reads.cost_attribution(Operator())
    assert result.judged_by_bill.bill_has_tags is False
    assert result.judged_by_bill.spend == 0
    assert result.judged.not_judged == UNATTRIBUTABLE + Decimal("5.55")
    assert BilledResource.objects.count() == 0


def test_a_viewer_of_one_account_sees_only_its_bill_judged_resources(
    tagged_bill: None, alice: User
) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))
    result = reads.cost_attribution(alice)
    judged = result.judged_by_bill
    assert judged.spend == BY_BILL - Decimal("2.00")
    assert judged.gap == BILL_GAP - Decimal("2.00")
    assert {r.account_id for r in result.bill_judged_resources} == {A}
    split = result.judged
    assert split.by_scan + split.by_bill + split.not_judged == result.total_spend


def test_a_type_filter_judges_nothing_from_the_bill(tagged_bill: None) -> None:
    result = reads.cost_attribution(Operator(), ResourceFilter(resource_types=["ec2:instance"]))
    assert result.judged_by_bill.spend == 0
    assert result.judged.by_bill == 0


def test_rejudged_after_a_policy_import(tagged_bill: None) -> None:
    do_import_policy(json.dumps({"required_tags": [{"name": "Owner"}]}), acting=Operator())
    judged = reads.cost_attribution(Operator()).judged_by_bill
    # Only Owner now: the wrong-case bucket and the untagged instance break it.
    assert (judged.gap, judged.noncompliant_count) == (Decimal("1.61"), 2)
    assert judged.untagged_spend == {"Owner": Decimal("1.61")}


def test_reimporting_replaces_the_billed_resources(tagged_bill: None, tmp_path: Path) -> None:
    _import(write_csv(tmp_path / "again.csv", TAGGED_HEADER, TAGGED_ROWS))
    assert BilledResource.objects.filter(resource_id=NEW1).count() == 1
    assert reads.cost_attribution(Operator()).judged_by_bill.spend == BY_BILL


def _tool(user: User) -> dict[str, Any]:
    from tests.mcp_endpoint.conftest import make_key, tool_call
    from tests.mcp_endpoint.test_auth import post

    status, body, _ = post(tool_call("get_cost_attribution_gap"), key=make_key(user))
    assert status == 200
    result: dict[str, Any] = json.loads(body["result"]["content"][0]["text"])
    return result


def _cents(amount: Decimal) -> str:
    return str(costs.to_cents(amount))


@pytest.mark.django_db(transaction=True)
def test_the_mcp_tool_gives_the_same_figures(tagged_bill: None, superuser: User) -> None:
    result = _tool(superuser)
    assert result["total_spend"] == _cents(TOTAL + EXTRA)
    assert result["unmatched_resource_spend"] == _cents(BY_BILL)
    assert result["judged_by_bill"]["spend"] == "21.50"
    assert result["judged_by_bill"]["gap"] == "15.95"
    assert result["judged_by_bill"]["resource_count"] == 5
    assert result["judged_by_bill"]["noncompliant_count"] == 4
    assert result["judged_by_bill"]["untagged_spend"]["Owner"] == "1.61"
    assert result["judged_by_bill"]["noncompliant_spend"]["Environment"] == "14.84"
    assert "owner" in result["judged_by_bill"]["keys_on_bill"]
    assert result["attribution_gap_with_bill"] == _cents(GAP + BILL_GAP)
    assert result["judged"] == {
        "by_scan": _cents(ATTRIBUTABLE + GAP),
        "by_bill": "21.50",
        "not_judged": _cents(UNATTRIBUTABLE),
    }
    first = result["bill_judged_resources"][0]
    assert first == {
        "resource_id": NEW1,
        "account_id": A,
        "resource_type": "ec2:instance",
        "spend": "12.34",
        "violations": [
            {"tag_key": "Environment", "violation_type": "missing_required_tag"},
            {"tag_key": "Project", "violation_type": "missing_required_tag"},
        ],
        "source": "bill",
    }


def test_the_import_command_prints_the_same_split(estate: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "focus.csv", TAGGED_HEADER, TAGGED_ROWS)
    out = io.StringIO()
    call_command("import_costs", str(path), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert (
        f"by scan {_cents(ATTRIBUTABLE + GAP)}, by bill 21.50, "
        f"not at all {_cents(UNATTRIBUTABLE)} USD" in text
    )
    assert "5 resource(s) not in the inventory, 4 non-compliant, gap 15.95" in text


def test_the_overview_shows_the_three_way_split(tagged_bill: None, charlie: User) -> None:
    client = Client()
    client.force_login(charlie)
    page = client.get(reverse("compliance:overview")).content.decode()
    assert "Spend judged by scan / by bill / not at all" in page
    assert "21.50" in page
