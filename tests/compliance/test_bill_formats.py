"""Bills as they come: NULL cells, other providers' rows, legacy CUR, every FOCUS version,
Parquet in row groups."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from compliance import reads
from compliance.core.billing import BillError, read_bill
from compliance.core.billing.reader import PARQUET_BATCH_ROWS
from compliance.models import AuditEvent, BillingImport, CostLine
from compliance.permissions.accounts import Operator
from compliance.writes.costs import do_import_costs
from compliance.writes.refusals import ActionError
from tests.compliance.billing.bills import (
    FOCUS_1_0_COLUMNS,
    FOCUS_1_1_COLUMNS,
    FOCUS_1_2_COLUMNS,
    FOCUS_1_3_COLUMNS,
    I_AAA,
    MULTI_CLOUD_ROWS,
    NULL_SAMPLE_ATTRIBUTABLE,
    NULL_SAMPLE_GAP,
    NULL_SAMPLE_ROWS,
    NULL_SAMPLE_TOTAL,
    NULL_SAMPLE_UNATTRIBUTABLE,
    NULL_SAMPLE_UNMATCHED,
    A,
    build_estate,
    focus_cells,
    write_csv,
    write_focus_version,
)

MULTI_CLOUD_REFUSAL = (
    "file: rows of other providers than AWS (Microsoft: 3 rows, Oracle: 1 row); their spend is "
    "not AWS spend. Import only the AWS rows with the provider filter aws"
)


def line_keys(path: Path) -> dict[tuple[str, str, str], Decimal]:
    """(region, resource id, charge category) -> effective cost, over the one period."""
    (period,) = read_bill(str(path)).periods
    return {
        (line.region, line.resource_id, line.charge_category): line.effective_cost
        for line in period.lines
    }


# --- NULL cells -----------------------------------------------------------------------------


def test_null_cells_are_read_as_empty(tmp_path: Path) -> None:
    path = write_focus_version(tmp_path / "sample.csv", FOCUS_1_0_COLUMNS, NULL_SAMPLE_ROWS)
    assert line_keys(path) == {
        ("us-east-1", I_AAA, "Usage"): Decimal("7.00"),
        ("us-east-1", "i-0bbb", "Usage"): Decimal("3.00"),
        ("us-east-1", "i-0zzz", "Usage"): Decimal("0.75"),
        ("", "", "Tax"): Decimal("1.50"),
        # EffectiveCost NULL: the billed cost, as for an empty cell.
        ("", "", "Usage"): Decimal("2.25"),
        ("", "", "Purchase"): Decimal("4.00"),
    }


def test_null_in_a_required_number_is_refused_as_empty(tmp_path: Path) -> None:
    rows = [
        focus_cells(A, "Amazon EC2", I_AAA, "Usage", "1"),
        focus_cells(A, "S3", "", "Usage", "null"),
    ]
    path = write_focus_version(tmp_path / "b.csv", FOCUS_1_0_COLUMNS, rows)
    with pytest.raises(BillError, match=r"^row 2, column BilledCost: empty, where a number is"):
        read_bill(str(path))


@pytest.mark.django_db
def test_null_rows_land_in_the_unattributable_bucket(tmp_path: Path) -> None:
    build_estate()
    path = write_focus_version(tmp_path / "sample.csv", FOCUS_1_0_COLUMNS, NULL_SAMPLE_ROWS)
    do_import_costs(str(path), acting=Operator())
    assert not CostLine.objects.filter(resource_id__iexact="null").exists()
    assert not CostLine.objects.filter(region__icontains="null").exists()
    result = reads.cost_attribution(Operator())
    assert result.total_spend == NULL_SAMPLE_TOTAL
    assert result.attributable_spend == NULL_SAMPLE_ATTRIBUTABLE
    assert result.attribution_gap == NULL_SAMPLE_GAP
    assert result.unattributable_spend == NULL_SAMPLE_UNATTRIBUTABLE
    assert result.unmatched_resource_spend == NULL_SAMPLE_UNMATCHED


# --- other providers' rows ------------------------------------------------------------------


def test_other_providers_rows_are_refused_naming_each(tmp_path: Path) -> None:
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    with pytest.raises(BillError) as refused:
        read_bill(str(path))
    assert str(refused.value).startswith(MULTI_CLOUD_REFUSAL)


def test_provider_filter_keeps_the_aws_rows_and_counts_the_rest(tmp_path: Path) -> None:
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    bill = read_bill(str(path), provider_filter="aws")
    assert bill.left_out == {"Microsoft": 3, "Oracle": 1}
    assert bill.row_count == 2
    (period,) = bill.periods
    assert period.account_ids == [A]
    assert period.effective_total == Decimal("11.00")


def test_a_file_of_no_aws_rows_is_refused_even_filtered(tmp_path: Path) -> None:
    path = write_focus_version(tmp_path / "azure.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS[2:5])
    with pytest.raises(BillError, match=r"^file: no AWS rows, only Microsoft: 3 rows$"):
        read_bill(str(path), provider_filter="aws")


def test_an_unknown_provider_filter_is_refused(tmp_path: Path) -> None:
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    with pytest.raises(BillError, match=r"^provider filter: 'azure' is not one of aws$"):
        read_bill(str(path), provider_filter="azure")


@pytest.mark.parametrize(
    "name",
    ["AWS", "aws", "Amazon Web Services", "Amazon Web Services, Inc.", " AMAZON ", "", "NULL"],
)
def test_the_ways_a_bill_names_aws(tmp_path: Path, name: str) -> None:
    rows = [focus_cells(A, "Amazon EC2", I_AAA, "Usage", "2.50", provider=name)]
    bill = read_bill(str(write_focus_version(tmp_path / "b.csv", FOCUS_1_0_COLUMNS, rows)))
    assert (bill.row_count, bill.left_out, bill.periods[0].effective_total) == (
        1,
        {},
        Decimal("2.50"),
    )


def test_a_marketplace_row_published_by_a_seller_is_aws_spend(tmp_path: Path) -> None:
    rows = [focus_cells(A, "Datadog Pro", "", "Purchase", "9.00", PublisherName="Datadog, Inc.")]
    bill = read_bill(str(write_focus_version(tmp_path / "b.csv", FOCUS_1_0_COLUMNS, rows)))
    assert bill.periods[0].effective_total == Decimal("9.00")


def test_focus_1_3_service_provider_name_is_the_provider(tmp_path: Path) -> None:
    rows = [
        focus_cells(A, "Amazon EC2", I_AAA, "Usage", "1"),
        # Hosted on AWS, sold and billed by another provider: not AWS spend.
        focus_cells(A, "Snowflake", "", "Usage", "4", ServiceProviderName="Snowflake"),
    ]
    path = write_focus_version(tmp_path / "b.csv", FOCUS_1_3_COLUMNS, rows)
    with pytest.raises(BillError, match=r"other providers than AWS \(Snowflake: 1 row\)"):
        read_bill(str(path))


def test_provider_names_reach_the_message_with_controls_shown(tmp_path: Path) -> None:
    rows = [
        focus_cells(A, "Amazon EC2", I_AAA, "Usage", "1"),
        focus_cells(A, "X", "", "Usage", "1", provider="Evil\x1b[2J Cloud"),
    ]
    path = write_focus_version(tmp_path / "b.csv", FOCUS_1_0_COLUMNS, rows)
    with pytest.raises(BillError) as refused:
        read_bill(str(path))
    assert "\x1b" not in str(refused.value)
    assert "(Evil⟨U+001B⟩[2J Cloud: 1 row)" in str(refused.value)


def test_a_refusal_names_ten_providers_at_most(tmp_path: Path) -> None:
    rows = [focus_cells(A, "X", "", "Usage", "1", provider=f"cloud-{i:02d}") for i in range(12)]
    path = write_focus_version(tmp_path / "b.csv", FOCUS_1_0_COLUMNS, rows)
    with pytest.raises(BillError, match=r"cloud-09: 1 row and 2 more providers\)"):
        read_bill(str(path))


@pytest.mark.django_db
def test_a_refused_multi_cloud_import_changes_nothing_and_is_audited(tmp_path: Path) -> None:
    build_estate()
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    with pytest.raises(ActionError, match="Microsoft: 3 rows, Oracle: 1 row"):
        do_import_costs(str(path), acting=Operator())
    assert not BillingImport.objects.exists()
    assert not CostLine.objects.exists()
    refusal = AuditEvent.objects.get(event_type="costs.rejected")
    assert (refusal.outcome, refusal.target) == ("denied", str(path))
    assert refusal.detail["error"].startswith(MULTI_CLOUD_REFUSAL)


@pytest.mark.django_db
def test_a_filtered_import_stores_aws_rows_and_audits_the_rest(tmp_path: Path) -> None:
    build_estate()
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    imported = do_import_costs(str(path), provider_filter="aws", acting=Operator())
    assert imported.left_out == {"Microsoft": 3, "Oracle": 1}
    assert sorted(CostLine.objects.values_list("resource_id", "effective_cost")) == [
        ("", Decimal("1.00")),
        (I_AAA, Decimal("10.00")),
    ]
    event = AuditEvent.objects.get(event_type="costs.imported")
    assert (event.detail["provider_filter"], event.detail["rows"]) == ("aws", 2)
    assert event.detail["rows_left_out"] == {"Microsoft": 3, "Oracle": 1}


@pytest.mark.django_db
def test_import_costs_command_filters_providers_and_says_so(tmp_path: Path) -> None:
    build_estate()
    path = write_focus_version(tmp_path / "multi.csv", FOCUS_1_0_COLUMNS, MULTI_CLOUD_ROWS)
    with pytest.raises(CommandError, match=r"unchanged: file: rows of other providers than AWS"):
        call_command("import_costs", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not BillingImport.objects.exists()
    out = io.StringIO()
    call_command(
        "import_costs", str(path), "--provider-filter", "aws", stdout=out, stderr=io.StringIO()
    )
    assert "2 rows, 1 billing period(s)" in out.getvalue()
    assert (
        "Left out by --provider-filter aws: 4 rows of other providers (Microsoft 3, Oracle 1)."
        in out.getvalue()
    )


# --- legacy CUR -----------------------------------------------------------------------------

LEGACY_CUR_HEADER = [
    "identity/LineItemId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/ProductCode",
    "lineItem/ResourceId",
    "lineItem/UnblendedCost",
    "product/region",
]
LEGACY_CUR_ROW = [
    "abc",
    "2024-05-01T00:00:00Z",
    "2024-06-01T00:00:00Z",
    A,
    "Usage",
    "AmazonEC2",
    "i-0aaa",
    "1.0",
    "us-east-1",
]


@pytest.mark.parametrize("fmt", [None, "cur", "focus"])
def test_a_legacy_cur_export_is_refused_naming_the_export_to_use(
    tmp_path: Path, fmt: str | None
) -> None:
    path = write_csv(tmp_path / "legacy.csv", LEGACY_CUR_HEADER, [LEGACY_CUR_ROW])
    with pytest.raises(BillError) as refused:
        read_bill(str(path), fmt)
    message = str(refused.value)
    assert message.startswith(
        "header: a legacy Cost and Usage Report (CUR) export (columns such as "
        "identity/LineItemId), which is not imported: create a CUR 2.0 or FOCUS 1.0+ export "
        "with AWS Data Exports"
    )


@pytest.mark.django_db
def test_import_costs_command_refuses_legacy_cur(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "legacy.csv", LEGACY_CUR_HEADER, [LEGACY_CUR_ROW])
    with pytest.raises(CommandError, match=r"legacy Cost and Usage Report \(CUR\) export"):
        call_command("import_costs", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert AuditEvent.objects.get(event_type="costs.rejected").outcome == "denied"


# --- FOCUS versions -------------------------------------------------------------------------

VERSION_ROWS = [
    focus_cells(
        A,
        "Amazon EC2",
        I_AAA,
        "Usage",
        "10.10",
        "7.0712345",
        CapacityReservationId="cr-1",
        ServiceSubcategory="Virtual Machines",
        InvoiceId="INV-1",
        PricingCurrency="USD",
        PricingCurrencyEffectiveCost="7.0712345",
        BillingAccountType="Billing Account",
    ),
    focus_cells(A, "Amazon EC2", "i-0bbb", "Credit", "-1.005"),
    focus_cells(A, "Amazon EC2", "", "Tax", "4.20", region=""),
]


@pytest.mark.parametrize(
    "columns",
    [FOCUS_1_0_COLUMNS, FOCUS_1_1_COLUMNS, FOCUS_1_2_COLUMNS, FOCUS_1_3_COLUMNS],
    ids=["1.0", "1.1", "1.2", "1.3"],
)
def test_each_focus_version_reads_exactly(tmp_path: Path, columns: list[str]) -> None:
    path = write_focus_version(tmp_path / "focus.csv", columns, VERSION_ROWS)
    bill = read_bill(str(path))
    assert (bill.format, bill.currency, bill.row_count) == ("focus", "USD", 3)
    assert line_keys(path) == {
        ("us-east-1", I_AAA, "Usage"): Decimal("7.0712345"),
        ("us-east-1", "i-0bbb", "Credit"): Decimal("-1.005"),
        ("", "", "Tax"): Decimal("4.20"),
    }
    assert bill.periods[0].billed_total == Decimal("13.295")


# --- Parquet in row groups ------------------------------------------------------------------


def test_a_parquet_bill_of_many_row_groups_and_batches_sums_exactly(tmp_path: Path) -> None:
    count = PARQUET_BATCH_ROWS * 3 + 17
    resources = [f"i-{n % 7:04d}" for n in range(count)]
    table = pa.table(
        {
            "BillingPeriodStart": ["2024-05-01T00:00:00Z"] * count,
            "BillingPeriodEnd": ["2024-06-01T00:00:00Z"] * count,
            "SubAccountId": [A] * count,
            "RegionId": [None if n % 5 == 0 else "us-east-1" for n in range(count)],
            "ServiceName": ["Amazon EC2"] * count,
            "ResourceId": resources,
            "ChargeCategory": ["Usage"] * count,
            "BilledCost": pa.array([Decimal("0.0001")] * count, pa.decimal128(12, 6)),
            "EffectiveCost": pa.array([Decimal("0.0003")] * count, pa.decimal128(12, 6)),
            "BillingCurrency": ["USD"] * count,
            "ProviderName": ["AWS" if n % 11 else "NULL" for n in range(count)],
        }
    )
    path = tmp_path / "bill.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    assert pq.ParquetFile(path).num_row_groups == 7
    bill = read_bill(str(path))
    assert bill.row_count == count
    (period,) = bill.periods
    assert period.effective_total == Decimal("0.0003") * count
    assert period.billed_total == Decimal("0.0001") * count
    assert sum(line.row_count for line in period.lines) == count
    assert {line.region for line in period.lines} == {"", "us-east-1"}


def test_reading_parquet_leaves_arrows_default_memory_pool_as_it_was(tmp_path: Path) -> None:
    rows = [focus_cells(A, "Amazon EC2", I_AAA, "Usage", "1")]
    table = pa.table({c: [row.get(c, None) for row in rows] for c in FOCUS_1_0_COLUMNS})
    pq.write_table(table, tmp_path / "b.parquet")
    before = pa.default_memory_pool().backend_name
    assert read_bill(str(tmp_path / "b.parquet")).periods[0].effective_total == Decimal(1)
    assert pa.default_memory_pool().backend_name == before
