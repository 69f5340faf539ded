"""Cost attribution end to end: import a bill, match it to the inventory, split it exactly."""

from __future__ import annotations

import gzip
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from compliance import reads
from compliance.core import costs
from compliance.models import AuditEvent, AwsAccount, BillingImport, CostLine
from compliance.permissions.accounts import Operator
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.writes.costs import do_import_costs
from compliance.writes.refusals import ActionError
from tests.compliance.billing.bills import (
    ATTRIBUTABLE,
    BUCKET,
    CUR_HEADER,
    CUR_ROWS,
    FOCUS_HEADER,
    FOCUS_ROWS,
    GAP,
    I_AAA,
    I_BBB,
    I_CCC,
    MAY,
    ORDERS,
    TOTAL,
    UNATTRIBUTABLE,
    UNMATCHED,
    A,
    B,
    build_estate,
    csv_text,
    write_csv,
    write_focus_parquet,
    write_gz,
)
from tests.conftest import grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate() -> None:
    build_estate()


@pytest.fixture
def focus_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "focus.csv", FOCUS_HEADER, FOCUS_ROWS)


def stored() -> list[tuple[Any, ...]]:
    """Everything the import stores, to compare before and after a refused import."""
    return [
        *BillingImport.objects.values_list("pk", "status", "effective_total").order_by("pk"),
        *CostLine.objects.values_list(
            "pk", "billing_import_id", "resource_id", "effective_cost"
        ).order_by("pk"),
    ]


# --- pure maths ------------------------------------------------------------------------------


def test_id_keys_cover_the_ways_a_bill_names_a_resource() -> None:
    assert costs.id_keys(I_AAA) == {"instance/i-0aaa", "i-0aaa"}
    assert costs.id_keys(BUCKET) == {"logs-bucket"}
    assert costs.id_keys(ORDERS) == {"db:orders", "orders"}


def test_an_ambiguous_id_is_settled_by_region_or_left_unmatched() -> None:
    east = costs.InventoryResource(f"arn:aws:sqs:us-east-1:{A}:jobs", A, "us-east-1", "sqs:queue")
    west = costs.InventoryResource(f"arn:aws:sqs:eu-west-1:{A}:jobs", A, "eu-west-1", "sqs:queue")
    table = costs.InventoryResource(
        f"arn:aws:dynamodb:eu-west-1:{A}:table/jobs", A, "eu-west-1", "dynamodb:table"
    )
    index = costs.ResourceIndex([east, west, table])
    assert index.match(A, "us-east-1", "jobs") == east
    assert index.match(A, "eu-west-1", "jobs") is None  # a queue and a table: no guessing
    assert index.match(B, "us-east-1", "jobs") is None  # ids match within their account only
    assert index.match(B, "", west.arn) == west  # an ARN is an ARN


def test_the_four_buckets_add_up_to_the_total_exactly() -> None:
    charges = [
        costs.Charge(A, "r", "s", "i-1", "Usage", Decimal("0.1")),
        costs.Charge(A, "r", "s", "i-1", "Usage", Decimal("0.2")),
        costs.Charge(A, "r", "s", "i-2", "Usage", Decimal("1.005")),
        costs.Charge(A, "", "Tax", "", "Tax", Decimal("0.015")),
        costs.Charge(A, "r", "s", "i-9", "Usage", Decimal("3")),
    ]
    resources = [
        costs.InventoryResource(f"arn:aws:ec2:r:{A}:instance/i-1", A, "r", "ec2:instance"),
        costs.InventoryResource(
            f"arn:aws:ec2:r:{A}:instance/i-2",
            A,
            "r",
            "ec2:instance",
            violating_tags=frozenset({"Owner"}),
            absent_tags=frozenset({"Owner"}),
        ),
    ]
    result = costs.attribute(charges, resources, required_tags=["Owner", "Project"])
    assert result.attributable_spend == Decimal("0.3")  # never 0.30000000000000004
    assert result.attribution_gap == Decimal("1.005")
    assert result.unattributable_spend == Decimal("0.015")
    assert result.unmatched_resource_spend == Decimal(3)
    assert result.total_spend == Decimal("4.320")
    assert result.untagged_spend == {"Owner": Decimal("1.005"), "Project": Decimal(0)}
    assert result.noncompliant_spend == {"Owner": Decimal("1.005"), "Project": Decimal(0)}
    assert result.by_resource_type[costs.NO_RESOURCE].unattributable == Decimal("0.015")
    assert result.unmatched_resources == {"i-9": Decimal(3)}
    assert costs.to_cents(Decimal("1.005")) == Decimal("1.00")  # half to even
    assert costs.to_cents(Decimal("0.015")) == Decimal("0.02")


# --- import and attribution -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "gz", "parquet"])
def test_focus_bill_attribution_is_exact(estate: None, tmp_path: Path, kind: str) -> None:
    writers = {
        "csv": lambda: write_csv(tmp_path / "f.csv", FOCUS_HEADER, FOCUS_ROWS),
        "gz": lambda: write_gz(tmp_path / "f.csv.gz", FOCUS_HEADER, FOCUS_ROWS),
        "parquet": lambda: write_focus_parquet(tmp_path / "f.parquet", FOCUS_ROWS),
    }
    (imported,) = do_import_costs(str(writers[kind]()), acting=Operator())
    assert (imported.row_count, imported.line_count, imported.effective_total) == (10, 9, TOTAL)
    result = reads.cost_attribution(Operator())
    assert (result.cost_source, result.period_start, result.currency) == ("focus", MAY, "USD")
    assert result.total_spend == TOTAL
    assert result.attributable_spend == ATTRIBUTABLE
    assert result.attribution_gap == GAP
    assert result.unattributable_spend == UNATTRIBUTABLE
    assert result.unmatched_resource_spend == UNMATCHED
    assert (
        result.attributable_spend
        + result.attribution_gap
        + result.unattributable_spend
        + result.unmatched_resource_spend
        == result.total_spend
    )
    assert result.untagged_spend == {
        "Environment": Decimal("19.000"),
        "Owner": Decimal("22.333"),
        "Project": Decimal("80.00"),
    }
    assert result.by_account[B].attribution_gap == Decimal("80.00")
    assert result.by_account[B].unattributable == Decimal("8.00")
    assert result.by_resource_type["s3:bucket"].total == Decimal("3.333")
    assert result.by_resource_type[costs.NOT_IN_INVENTORY].total == UNMATCHED
    assert result.by_service["AWS Support (Business)"].unattributable == Decimal("9.99")
    assert result.by_charge_category["Credit"].attribution_gap == Decimal("-1.005")
    assert result.by_region["eu-west-1"].total == Decimal("80.00")


def test_cur_bill_attribution_is_exact(estate: None, tmp_path: Path) -> None:
    do_import_costs(str(write_csv(tmp_path / "cur.csv", CUR_HEADER, CUR_ROWS)), acting=Operator())
    result = reads.cost_attribution(Operator())
    assert result.cost_source == "cur"
    assert result.total_spend == Decimal("25.73")
    assert result.attributable_spend == Decimal("13.35")
    assert result.attribution_gap == Decimal("4.40")
    assert result.unattributable_spend == Decimal("-0.77")
    assert result.unmatched_resource_spend == Decimal("8.75")


def test_resource_costs_give_each_violation_its_monthly_cost(
    estate: None, focus_csv: Path, alice: User
) -> None:
    arns = [I_AAA, I_BBB, BUCKET, ORDERS, I_CCC]
    assert reads.resource_costs(Operator(), arns) == dict.fromkeys(arns)  # no bill yet
    do_import_costs(str(focus_csv), acting=Operator())
    assert reads.resource_costs(Operator(), [*arns, "arn:aws:s3:::nope"]) == {
        I_AAA: Decimal("9.5712345"),
        I_BBB: Decimal("19.000"),
        BUCKET: Decimal("3.333"),
        ORDERS: Decimal(0),  # in the inventory, not in the bill
        I_CCC: Decimal("80.00"),
    }
    grant(alice, AwsAccount.objects.get(account_id=A))
    assert set(reads.resource_costs(alice, arns)) == {I_AAA, I_BBB, BUCKET, ORDERS}


def test_reimporting_a_period_replaces_it(estate: None, focus_csv: Path, tmp_path: Path) -> None:
    first = do_import_costs(str(focus_csv), acting=Operator())[0]
    lines = CostLine.objects.count()
    second = do_import_costs(str(focus_csv), acting=Operator())[0]
    assert CostLine.objects.count() == lines
    assert reads.cost_attribution(Operator()).total_spend == TOTAL
    first.refresh_from_db()
    assert (first.status, second.status) == ("replaced", "active")
    # A corrected bill for account B only replaces B's lines and keeps A's.
    fixed = [r for r in FOCUS_ROWS if r[4] == B]
    fixed[0] = [*fixed[0][:9], "50.00", "40.00", *fixed[0][11:]]
    do_import_costs(str(write_csv(tmp_path / "b.csv", FOCUS_HEADER, fixed)), acting=Operator())
    assert reads.cost_attribution(Operator()).total_spend == TOTAL - Decimal(40)
    second.refresh_from_db()
    assert second.status == "active"


def test_a_cur_bill_and_a_focus_bill_of_one_period_are_not_added(
    estate: None, focus_csv: Path, tmp_path: Path
) -> None:
    do_import_costs(str(focus_csv), acting=Operator())
    do_import_costs(str(write_csv(tmp_path / "c.csv", CUR_HEADER, CUR_ROWS)), acting=Operator())
    result = reads.cost_attribution(Operator())
    assert (result.cost_source, result.total_spend) == ("cur", Decimal("25.73"))


@pytest.mark.parametrize(
    ("column", "row", "value", "message"),
    [
        ("BilledCost", 4, "abc", "row 4, column BilledCost: 'abc' is not a number"),
        ("BillingPeriodStart", 9, "2024-13-01", "row 9, column BillingPeriodStart"),
        ("ResourceId", None, None, "header: missing column ResourceId"),
    ],
)
def test_malformed_bill_changes_nothing_and_is_audited(
    estate: None,
    focus_csv: Path,
    tmp_path: Path,
    column: str,
    row: int | None,
    value: str | None,
    message: str,
) -> None:
    do_import_costs(str(focus_csv), acting=Operator())
    before = stored()
    position = FOCUS_HEADER.index(column)
    if row is None:
        header = FOCUS_HEADER[:position] + FOCUS_HEADER[position + 1 :]
        rows = [r[:position] + r[position + 1 :] for r in FOCUS_ROWS]
    else:
        header, rows = FOCUS_HEADER, [list(r) for r in FOCUS_ROWS]
        rows[row - 1][position] = value or ""
    bad = write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(ActionError, match=message):
        do_import_costs(str(bad), acting=Operator())
    assert stored() == before
    refusal = AuditEvent.objects.get(event_type="costs.rejected")
    assert refusal.outcome == "denied"
    assert refusal.target == str(bad)
    assert message in refusal.detail["error"]


def test_import_is_audited_with_its_totals(estate: None, focus_csv: Path) -> None:
    do_import_costs(str(focus_csv), acting=Operator())
    event = AuditEvent.objects.get(event_type="costs.imported")
    (period,) = event.detail["periods"]
    assert (event.detail["format"], event.detail["rows"]) == ("focus", 10)
    assert Decimal(period["effective_total"]) == TOTAL
    assert period["accounts"] == [A, B]
    assert Decimal(period["by_category"]["Tax"]) == Decimal("12.20")


# --- permissions ----------------------------------------------------------------------------


def test_a_viewer_sees_only_the_money_of_their_accounts(
    estate: None, focus_csv: Path, alice: User, bob: User, charlie: User
) -> None:
    do_import_costs(str(focus_csv), acting=Operator())
    grant(alice, AwsAccount.objects.get(account_id=A))
    mine = reads.cost_attribution(alice)
    assert mine.total_spend == TOTAL - Decimal("88.00")
    assert set(mine.by_account) == {A}
    assert mine.untagged_spend["Project"] == Decimal(0)
    with pytest.raises(AccountNotVisible):
        reads.cost_attribution(alice, ResourceFilter(account_ids=[B]))
    nothing = reads.cost_attribution(bob)
    assert nothing.cost_source is None
    assert nothing.total_spend == 0
    assert nothing.by_account == {}
    assert reads.cost_attribution(charlie).total_spend == TOTAL
    only_b = reads.cost_attribution(charlie, ResourceFilter(account_ids=[B]))
    assert only_b.total_spend == Decimal("88.00")


def test_region_and_type_filters(estate: None, focus_csv: Path) -> None:
    do_import_costs(str(focus_csv), acting=Operator())
    west = reads.cost_attribution(Operator(), ResourceFilter(regions=["eu-west-1"]))
    assert west.total_spend == Decimal("80.00")
    instances = reads.cost_attribution(Operator(), ResourceFilter(resource_types=["ec2:instance"]))
    assert instances.total_spend == ATTRIBUTABLE + Decimal("19.000") + Decimal("80.00")
    assert instances.unattributable_spend == 0


# --- command and S3 -------------------------------------------------------------------------


def test_import_costs_command_prints_period_rows_and_categories(
    estate: None, focus_csv: Path
) -> None:
    out = io.StringIO()
    call_command("import_costs", str(focus_csv), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "10 rows" in text
    assert "2024-05-01 to 2024-06-01" in text
    assert "cost 139.64 USD (billed 160.17 USD)" in text
    lines = [line.split() for line in text.splitlines()]
    assert ["Usage", "128.45", "USD"] in lines
    assert ["Tax", "12.20", "USD"] in lines
    assert ["Credit", "-1.00", "USD"] in lines  # -1.005, half to even


def test_import_costs_command_refuses_a_bad_bill(estate: None, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", FOCUS_HEADER[:-2], [r[:-2] for r in FOCUS_ROWS])
    with pytest.raises(CommandError, match="stored costs are unchanged: header: missing column"):
        call_command("import_costs", str(bad), stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="missing column BilledCost"):
        call_command(
            "import_costs",
            str(write_csv(tmp_path / "c.csv", CUR_HEADER, CUR_ROWS)),
            "--format",
            "focus",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert not BillingImport.objects.exists()


def test_import_from_s3(estate: None, mocked_aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="billing-exports")
    body = gzip.compress(csv_text(FOCUS_HEADER, FOCUS_ROWS).encode())
    s3.put_object(Bucket="billing-exports", Key="focus/2024-05/part-0", Body=body)
    do_import_costs("s3://billing-exports/focus/2024-05/part-0", acting=Operator())
    assert reads.cost_attribution(Operator()).total_spend == TOTAL
    with pytest.raises(ActionError, match="s3://billing-exports/nope: no such object"):
        do_import_costs("s3://billing-exports/nope", acting=Operator())
    with pytest.raises(ActionError, match="expected s3://bucket/key"):
        do_import_costs("s3://billing-exports", acting=Operator())


def test_exempted_violations_do_not_widen_the_attribution_gap(
    estate: None, focus_csv: Path, charlie: User
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from compliance.writes.exemptions import do_create_exemption

    do_import_costs(str(focus_csv), acting=Operator())
    do_create_exemption(
        reason="sandbox account, tagged by its owner next quarter",
        owner="charlie",
        expires_at=timezone.now() + timedelta(days=30),
        account_id=B,
        acting=Operator(),
    )
    result = reads.cost_attribution(Operator())
    assert result.attribution_gap == GAP - Decimal("80.00")
    assert result.attributable_spend == ATTRIBUTABLE + Decimal("80.00")
    assert result.total_spend == TOTAL
