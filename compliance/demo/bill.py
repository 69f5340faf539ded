"""The demo estate's bill: one month of FOCUS 1.0 charges for the resources the demo seeds.

Pure (no boto3, no ORM): the amounts follow from each resource's ARN and type only, so the same
estate gets the same bill on every run, and a test can work out every figure from these rows.

Amounts are realistic list prices for a small estate, per resource type, each resource somewhere
in its type's range (chosen by a hash of its ARN). Networking scaffolding that AWS does not
charge for (VPCs, subnets, security groups, ECS clusters) has no row. The bill names resources
the way AWS exports do: EC2 instances and volumes by bare id (``i-0abc``), buckets by name, the
rest by ARN. Besides resource charges it has rows no tag can attribute: Business support, a
promotional credit and sales tax per account.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compliance.demo.estate import SeededResource

#: The payer (management) account the demo's accounts bill to, where the export is delivered.
BILLING_ACCOUNT = "999999999999"
CURRENCY = "USD"
#: Sales tax on each account's usage, rounded to the cent (the only rounding in the bill).
TAX_RATE = Decimal("0.08")
SUPPORT_FEE = Decimal("100.00")
CREDIT = Decimal("-25.00")
_CENT = Decimal("0.01")
_RATE_PLACES = Decimal("0.000001")  # usage charges carry six decimals, as hourly sums do


@dataclass(frozen=True, slots=True)
class _Price:
    service: str
    service_category: str
    low: Decimal
    high: Decimal
    description: str


def _price(service: str, category: str, low: str, high: str, description: str) -> _Price:
    return _Price(service, category, Decimal(low), Decimal(high), description)


_EC2 = "Amazon Elastic Compute Cloud"
SUPPORT = "AWS Support (Business)"
#: Monthly cost range per resource type; types not listed are free and get no row.
PRICES: dict[str, _Price] = {
    "ec2:instance": _price(_EC2, "Compute", "30", "280", "On Demand Linux instance hours"),
    "ec2:volume": _price(_EC2, "Storage", "4", "40", "EBS gp3 storage"),
    "ec2:snapshot": _price(_EC2, "Storage", "1", "10", "EBS snapshot storage"),
    "ec2:elastic-ip": _price(
        "Amazon Virtual Private Cloud", "Networking", "3.6", "3.6", "Public IPv4 address"
    ),
    "ec2:natgateway": _price(_EC2, "Networking", "32.4", "75", "NAT gateway hours and data"),
    "s3:bucket": _price("Amazon Simple Storage Service", "Storage", "0.5", "60", "S3 Standard"),
    "rds:db": _price(
        "Amazon Relational Database Service", "Databases", "50", "400", "RDS instance hours"
    ),
    "lambda:function": _price("AWS Lambda", "Compute", "0.2", "15", "Lambda requests and GB-s"),
    "dynamodb:table": _price("Amazon DynamoDB", "Databases", "1", "40", "DynamoDB on-demand"),
    "sqs:queue": _price("Amazon Simple Queue Service", "Integration", "0.1", "3", "SQS requests"),
    "sns:topic": _price(
        "Amazon Simple Notification Service", "Integration", "0.01", "1", "SNS publishes"
    ),
    "ecr:repository": _price(
        "Amazon EC2 Container Registry (ECR)", "Storage", "0.1", "5", "ECR storage"
    ),
    "logs:log-group": _price(
        "AmazonCloudWatch", "Management and Governance", "0.5", "20", "Log ingestion"
    ),
    "kinesis:stream": _price("Amazon Kinesis", "Analytics", "10.8", "30", "Shard hours"),
    "elasticfilesystem:file-system": _price(
        "Amazon Elastic File System", "Storage", "3", "30", "EFS Standard storage"
    ),
    "ecs:service": _price(
        "Amazon Elastic Container Service", "Compute", "20", "120", "Fargate vCPU and memory"
    ),
    "elasticloadbalancing:loadbalancer": _price(
        "Elastic Load Balancing", "Networking", "16.2", "45", "Load balancer hours and LCUs"
    ),
    "secretsmanager:secret": _price(
        "AWS Secrets Manager", "Security, Identity, and Compliance", "0.4", "0.45", "Secrets"
    ),
    "cloudwatch:alarm": _price(
        "AmazonCloudWatch", "Management and Governance", "0.1", "0.3", "Alarm metrics"
    ),
    "states:stateMachine": _price(
        "AWS Step Functions", "Integration", "0.5", "25", "State transitions"
    ),
    "kms:key": _price(
        "AWS Key Management Service", "Security, Identity, and Compliance", "1", "1.3", "Keys"
    ),
}

COLUMNS = (
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeFrequency",
    "ChargeDescription",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "ResourceType",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
)


@dataclass(frozen=True, slots=True)
class BillRow:
    """One FOCUS row; ``arn`` is the resource charged (empty for tax, support, credit)."""

    account_id: str
    region: str
    service: str
    service_category: str
    resource_id: str
    resource_type: str
    charge_category: str
    charge_frequency: str
    description: str
    cost: Decimal
    arn: str = ""


def monthly_cost(resource: SeededResource) -> Decimal | None:
    """The resource's cost for the month, or ``None`` when AWS does not charge for its type."""
    price = PRICES.get(resource.resource_type)
    if price is None:
        return None
    digest = hashlib.sha256(resource.arn.encode()).digest()
    share = Decimal(int.from_bytes(digest[:4], "big")) / Decimal(2**32)
    return (price.low + (price.high - price.low) * share).quantize(_RATE_PLACES)


def bill_resource_id(resource: SeededResource) -> str:
    """How AWS exports name the resource: bare ids for EC2 instances and volumes, bucket names
    for S3, the ARN otherwise."""
    if resource.resource_type in ("ec2:instance", "ec2:volume", "s3:bucket"):
        return resource.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return resource.arn


def demo_bill_rows(resources: Iterable[SeededResource]) -> list[BillRow]:
    """Every charge of the month: resource usage, then support, the credit and tax."""
    rows: list[BillRow] = []
    usage: dict[str, Decimal] = {}
    for resource in sorted(resources, key=lambda r: (r.account_id, r.region, r.arn)):
        cost = monthly_cost(resource)
        if cost is None:
            continue
        price = PRICES[resource.resource_type]
        rows.append(
            BillRow(
                account_id=resource.account_id,
                region=resource.region,
                service=price.service,
                service_category=price.service_category,
                resource_id=bill_resource_id(resource),
                resource_type=resource.resource_type,
                charge_category="Usage",
                charge_frequency="Usage-Based",
                description=price.description,
                cost=cost,
                arn=resource.arn,
            )
        )
        usage[resource.account_id] = usage.get(resource.account_id, Decimal(0)) + cost
    if not usage:
        return rows
    first = min(usage)  # the organisation-wide charges land on the first account
    rows.append(
        _unattributed(first, SUPPORT, "Purchase", "Recurring", "Business support", SUPPORT_FEE)
    )
    rows.append(_unattributed(first, _EC2, "Credit", "One-Time", "Promotional credit", CREDIT))
    for account_id, total in sorted(usage.items()):
        tax = (total * TAX_RATE).quantize(_CENT)
        rows.append(_unattributed(account_id, _EC2, "Tax", "Recurring", "Sales tax", tax))
    return rows


def _unattributed(
    account_id: str, service: str, category: str, frequency: str, description: str, cost: Decimal
) -> BillRow:
    return BillRow(
        account_id=account_id,
        region="",
        service=service,
        service_category="Other",
        resource_id="",
        resource_type="",
        charge_category=category,
        charge_frequency=frequency,
        description=description,
        cost=cost,
    )


def focus_csv_gz(rows: Sequence[BillRow], month: date) -> bytes:
    """The rows as a gzip-compressed FOCUS 1.0 CSV for the calendar month starting ``month``."""
    start = month.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    period = (f"{start.isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        amount = str(row.cost)
        writer.writerow(
            [
                BILLING_ACCOUNT,
                "Demo organisation",
                row.account_id,
                *period,
                *period,
                row.charge_category,
                row.charge_frequency,
                row.description,
                "AWS",
                "AWS",
                "AWS",
                row.service_category,
                row.service,
                row.region,
                row.resource_id,
                row.resource_type,
                amount,
                amount,
                amount,
                CURRENCY,
            ]
        )
    # mtime=0: the same rows give the same bytes on every run.
    return gzip.compress(out.getvalue().encode("utf-8"), mtime=0)


def last_full_month(today: date) -> date:
    """The first day of the month before ``today``'s: the latest month a bill is final for."""
    first = today.replace(day=1)
    return (
        first.replace(year=first.year - 1, month=12)
        if first.month == 1
        else first.replace(month=first.month - 1)
    )
