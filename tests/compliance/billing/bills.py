"""Hand-made bills and the small estate they bill, with the right answers worked out by hand.

Estate (effective cost in the May 2024 bill):

- account A 111111111111: ``i-0aaa`` (compliant; 7.0712345 + 2.5 covered by a Savings Plan),
  ``i-0bbb`` (violates Owner and Environment; billed by bare id, 20.005 usage - 1.005 credit),
  bucket ``logs-bucket`` (violates Owner; by bucket name, 3.333), RDS ``orders`` (compliant, not
  in the bill), tax 4.20, support 9.99 and ``i-0zzz`` (5.55), which the inventory does not hold;
- account B 222222222222: ``i-0ccc`` (violates Project; 80 effective, 100 billed), tax 8.00.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy, Violation

A = "111111111111"
B = "222222222222"
I_AAA = f"arn:aws:ec2:us-east-1:{A}:instance/i-0aaa"
I_BBB = f"arn:aws:ec2:us-east-1:{A}:instance/i-0bbb"
BUCKET = "arn:aws:s3:::logs-bucket"
ORDERS = f"arn:aws:rds:us-east-1:{A}:db:orders"
I_CCC = f"arn:aws:ec2:eu-west-1:{B}:instance/i-0ccc"

MAY = datetime(2024, 5, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)

FOCUS_HEADER = [
    "BillingAccountId",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "SubAccountId",
    "RegionId",
    "ServiceName",
    "ResourceId",
    "ChargeCategory",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "x_UsageType",
]


def focus_row(
    account: str,
    region: str,
    service: str,
    resource: str,
    category: str,
    billed: str,
    effective: str,
    start: str = "2024-05-01T00:00:00Z",
    end: str = "2024-06-01T00:00:00Z",
) -> list[str]:
    return [
        "999999999999",
        start,
        end,
        "2024-05-03T10:00:00Z",
        account,
        region,
        service,
        resource,
        category,
        billed,
        effective,
        "USD",
        "BoxUsage:m5.large",
    ]


FOCUS_ROWS = [
    focus_row(A, "us-east-1", "Amazon EC2", I_AAA, "Usage", "10.10", "7.0712345"),
    focus_row(A, "us-east-1", "Amazon EC2", I_AAA, "Usage", "0.00", "2.5"),
    focus_row(A, "us-east-1", "Amazon EC2", "i-0bbb", "Usage", "20.005", "20.005"),
    focus_row(A, "us-east-1", "Amazon EC2", "i-0bbb", "Credit", "-1.005", "-1.005"),
    focus_row(A, "us-east-1", "Amazon S3", "logs-bucket", "Usage", "3.333", "3.333"),
    focus_row(A, "", "Amazon EC2", "", "Tax", "4.20", "4.20"),
    focus_row(A, "", "AWS Support (Business)", "", "Usage", "9.99", "9.99"),
    focus_row(A, "us-east-1", "Amazon EC2", "i-0zzz", "Usage", "5.55", "5.55"),
    focus_row(B, "eu-west-1", "Amazon EC2", I_CCC, "Usage", "100.00", "80.00"),
    focus_row(B, "", "Amazon EC2", "", "Tax", "8.00", "8.00"),
]

#: The right answers for FOCUS_ROWS, over both accounts.
TOTAL = Decimal("139.6442345")
ATTRIBUTABLE = Decimal("9.5712345")
GAP = Decimal("102.333")
UNATTRIBUTABLE = Decimal("22.19")
UNMATCHED = Decimal("5.55")
BILLED_TOTAL = Decimal("160.173")

CUR_HEADER = [
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_account_id",
    "line_item_line_item_type",
    "line_item_product_code",
    "line_item_resource_id",
    "line_item_unblended_cost",
    "line_item_currency_code",
    "product_region_code",
    "pricing_unit",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "reservation_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_reservation_a_r_n",
]
SP_ARN = f"arn:aws:savingsplans::{A}:savingsplan/sp-1"
RI_ARN = f"arn:aws:ec2:us-east-1:{A}:reserved-instances/ri-1"


def cur_row(line_type: str, resource: str, unblended: str, **extra: str) -> list[str]:
    values = {
        "bill_billing_period_start_date": "2024-05-01 00:00:00.000",
        "bill_billing_period_end_date": "2024-06-01 00:00:00.000",
        "line_item_usage_account_id": A,
        "line_item_line_item_type": line_type,
        "line_item_product_code": "AmazonEC2",
        "line_item_resource_id": resource,
        "line_item_unblended_cost": unblended,
        "line_item_currency_code": "USD",
        "product_region_code": "us-east-1",
        "pricing_unit": "Hrs",
        **extra,
    }
    return [values.get(column, "") for column in CUR_HEADER]


CUR_ROWS = [
    cur_row("Usage", I_AAA, "10.10"),
    cur_row(
        "SavingsPlanCoveredUsage", I_AAA, "5.00", savings_plan_savings_plan_effective_cost="3.25"
    ),
    cur_row("SavingsPlanNegation", I_AAA, "-5.00"),
    cur_row(
        "SavingsPlanRecurringFee",
        SP_ARN,
        "10.00",
        savings_plan_total_commitment_to_date="10.00",
        savings_plan_used_commitment="3.25",
    ),
    cur_row("DiscountedUsage", "i-0bbb", "0", reservation_effective_cost="4.40"),
    cur_row(
        "RIFee",
        RI_ARN,
        "50",
        reservation_unused_amortized_upfront_fee_for_billing_period="1.10",
        reservation_unused_recurring_fee="0.90",
        reservation_reservation_a_r_n=RI_ARN,
    ),
    cur_row("Fee", "", "300", reservation_reservation_a_r_n=RI_ARN),
    cur_row("Tax", "", "1.23"),
    cur_row("Credit", "", "-2.00"),
]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text(csv_text(header, rows), encoding="utf-8")
    return path


def write_gz(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_bytes(gzip.compress(csv_text(header, rows).encode()))
    return path


def write_focus_parquet(path: Path, rows: list[list[str]]) -> Path:
    """The FOCUS rows as a typed Parquet file, as AWS Data Exports writes it: timestamps,
    a float BilledCost and a decimal EffectiveCost."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [row[i] for row in rows] for i, name in enumerate(FOCUS_HEADER)}
    stamp = pa.timestamp("ms", tz="UTC")

    def times(values: list[str]) -> pa.Array:
        return pa.array([datetime.fromisoformat(v) for v in values], type=stamp)

    table = pa.table(
        {
            **{name: pa.array(values) for name, values in columns.items()},
            "BillingPeriodStart": times(columns["BillingPeriodStart"]),
            "BillingPeriodEnd": times(columns["BillingPeriodEnd"]),
            "ChargePeriodStart": times(columns["ChargePeriodStart"]),
            "BilledCost": pa.array([float(v) for v in columns["BilledCost"]], pa.float64()),
            "EffectiveCost": pa.array(
                [Decimal(v) for v in columns["EffectiveCost"]], pa.decimal128(20, 10)
            ),
            "RegionId": pa.array([v or None for v in columns["RegionId"]]),
        }
    )
    pq.write_table(table, path, row_group_size=4)
    return path


def build_estate() -> None:
    """The inventory of the module docstring, with its violations, straight into the ORM."""
    now = timezone.now()
    policy = TaggingPolicy.objects.create(
        version=1,
        source_format="mcp_json",
        document={"required_tags": [{"name": n} for n in ("Owner", "Environment", "Project")]},
        source_text="{}",
        is_active=True,
    )
    scan = Scan.objects.create(status=Scan.Status.COMPLETE, policy=policy, finished_at=now)
    accounts = {
        A: AwsAccount.objects.create(account_id=A, name="prod"),
        B: AwsAccount.objects.create(account_id=B, name="data"),
    }
    inventory = [
        (I_AAA, A, "us-east-1", "ec2:instance", []),
        (I_BBB, A, "us-east-1", "ec2:instance", ["Owner", "Environment"]),
        (BUCKET, A, "us-east-1", "s3:bucket", ["Owner"]),
        (ORDERS, A, "us-east-1", "rds:db", []),
        (I_CCC, B, "eu-west-1", "ec2:instance", ["Project"]),
    ]
    for arn, account, region, resource_type, violated in inventory:
        resource = Resource.objects.create(
            arn=arn,
            account=accounts[account],
            region=region,
            resource_type=resource_type,
            first_seen_at=now,
            last_seen_at=now,
            last_seen_scan=scan,
            is_compliant=not violated,
            violation_count=len(violated),
        )
        for tag in violated:
            Violation.objects.create(
                resource=resource,
                scan=scan,
                policy=policy,
                violation_type=Violation.Type.MISSING_REQUIRED_TAG,
                tag_name=tag,
                first_detected_at=now,
            )


# --- bills as the exports of each FOCUS version write them ----------------------------------

#: The columns of FOCUS 1.0, as its sample data (``focus_sample.csv``) has them.
FOCUS_1_0_COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
#: FOCUS 1.1 adds capacity reservations, commitment quantities, the service subcategory and
#: SKU meter and price details.
FOCUS_1_1_COLUMNS = [
    *FOCUS_1_0_COLUMNS,
    "CapacityReservationId",
    "CapacityReservationStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "ServiceSubcategory",
    "SkuMeter",
    "SkuPriceDetails",
]
#: FOCUS 1.2 adds account types, the invoice id and the pricing-currency figures.
FOCUS_1_2_COLUMNS = [
    *FOCUS_1_1_COLUMNS,
    "BillingAccountType",
    "SubAccountType",
    "InvoiceId",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
]
#: FOCUS 1.3 names the provider of the service and of the host apart, deprecating ProviderName.
FOCUS_1_3_COLUMNS = [
    *[c for c in FOCUS_1_2_COLUMNS if c not in ("ProviderName", "PublisherName")],
    "ServiceProviderName",
    "HostProviderName",
]


def focus_cells(
    account: str,
    service: str,
    resource: str,
    category: str,
    billed: str,
    effective: str | None = None,
    *,
    region: str = "us-east-1",
    provider: str = "AWS",
    **other: str,
) -> dict[str, str]:
    """One row of a FOCUS export; ``effective`` defaults to ``billed``."""
    return {
        "BillingAccountId": "999999999999",
        "BillingPeriodStart": "2024-05-01T00:00:00Z",
        "BillingPeriodEnd": "2024-06-01T00:00:00Z",
        "ChargePeriodStart": "2024-05-03T00:00:00Z",
        "ChargePeriodEnd": "2024-05-04T00:00:00Z",
        "SubAccountId": account,
        "RegionId": region,
        "ServiceName": service,
        "ResourceId": resource,
        "ChargeCategory": category,
        "ChargeClass": "NULL",
        "BilledCost": billed,
        "EffectiveCost": billed if effective is None else effective,
        "BillingCurrency": "USD",
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "ServiceProviderName": provider,
        "HostProviderName": provider,
        **other,
    }


def write_focus_version(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    """A FOCUS CSV with ``columns``; a cell a row does not give is ``NULL``, as the FOCUS 1.0
    sample data writes every empty cell."""
    return write_csv(path, columns, [[row.get(c, "NULL") for c in columns] for row in rows])


#: A bill in the shape of the FOCUS 1.0 sample: every empty cell is the text NULL, in the cases
#: and spacings exports write it.
NULL_SAMPLE_ROWS = [
    focus_cells(A, "Amazon EC2", I_AAA, "Usage", "7.00"),
    focus_cells(A, "Amazon EC2", "i-0bbb", "Usage", "3.00"),
    focus_cells(A, "Amazon EC2", "NULL", "Tax", "1.50", region="NULL"),
    focus_cells(A, "AWS Support (Business)", "null", "Usage", "2.25", "NULL", region=" NULL "),
    focus_cells(A, "Datadog Pro", " Null ", "Purchase", "4.00", region="", PublisherName="Datadog"),
    focus_cells(A, "Amazon EC2", "i-0zzz", "Usage", "0.75"),
]
#: Its right answers on the estate of :func:`build_estate`.
NULL_SAMPLE_TOTAL = Decimal("18.50")
NULL_SAMPLE_ATTRIBUTABLE = Decimal("7.00")
NULL_SAMPLE_GAP = Decimal("3.00")
NULL_SAMPLE_UNATTRIBUTABLE = Decimal("7.75")
NULL_SAMPLE_UNMATCHED = Decimal("0.75")

#: One FOCUS file from a multi-cloud tool: AWS rows beside Azure's and Oracle's.
MULTI_CLOUD_ROWS = [
    focus_cells(A, "Amazon EC2", I_AAA, "Usage", "10.00"),
    focus_cells(A, "Amazon EC2", "", "Tax", "1.00", provider="Amazon Web Services, Inc."),
    focus_cells(
        "sub-1", "Virtual Machines", "/subscriptions/1/vm", "Usage", "5", provider="Microsoft"
    ),
    focus_cells("sub-1", "Storage", "/subscriptions/1/disk", "Usage", "2", provider="Microsoft"),
    focus_cells("sub-1", "Bandwidth", "", "Usage", "1", provider="Microsoft"),
    focus_cells("ocid1.tenancy", "Compute", "ocid1.instance", "Usage", "3", provider="Oracle"),
]
