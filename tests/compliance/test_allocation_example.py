"""The worked example of docs/costs.md ("Allocation rules and shared costs"), figure by figure:
one month's bill, three allocation rules and two shared-cost rules on ``CostCenter``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from compliance.core.costs import to_cents
from compliance.models import (
    AllocationRule,
    AwsAccount,
    Resource,
    Scan,
    SharedCostRule,
    TaggingPolicy,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.reads import showback
from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import FOCUS_HEADER, focus_row, write_csv

pytestmark = pytest.mark.django_db

KEY = "CostCenter"
PROD, DATA = "111111111111", "222222222222"
WEB = f"arn:aws:ec2:us-east-1:{PROD}:instance/i-0web"
API = f"arn:aws:ec2:us-east-1:{PROD}:instance/i-0api"
DISK = f"arn:aws:ec2:us-east-1:{PROD}:volume/vol-0web"
LOGS = "arn:aws:s3:::example-logs"
JOBS = f"arn:aws:sqs:us-east-1:{DATA}:jobs"
CDN = f"arn:aws:cloudfront::{PROD}:distribution/E2EXAMPLE"


def build(tmp_path: Path) -> None:
    now = timezone.now()
    policy = TaggingPolicy.objects.create(
        version=1,
        source_format="mcp_json",
        document={"required_tags": [{"name": KEY, "allowed_values": ["cc-100", "cc-200"]}]},
        source_text="{}",
        is_active=True,
    )
    scan = Scan.objects.create(status=Scan.Status.COMPLETE, policy=policy, finished_at=now)
    accounts = {
        PROD: AwsAccount.objects.create(account_id=PROD, name="prod"),
        DATA: AwsAccount.objects.create(account_id=DATA, name="data"),
    }
    for arn, account, resource_type, tags, attributes, violation in (
        (WEB, PROD, "ec2:instance", {KEY: "cc-100"}, {}, None),
        (API, PROD, "ec2:instance", {KEY: "cc-200"}, {}, None),
        (DISK, PROD, "ec2:volume", {}, {"parent_arn": WEB}, "missing_required_tag"),
        (LOGS, PROD, "s3:bucket", {KEY: "bogus"}, {}, "invalid_value"),
        (JOBS, DATA, "sqs:queue", {}, {}, "missing_required_tag"),
    ):
        resource = Resource.objects.create(
            arn=arn,
            account=accounts[account],
            region="us-east-1",
            resource_type=resource_type,
            tags=tags,
            attributes=attributes,
            first_seen_at=now,
            last_seen_at=now,
            last_seen_scan=scan,
            is_compliant=violation is None,
            violation_count=int(violation is not None),
        )
        if violation:
            Violation.objects.create(
                resource=resource,
                scan=scan,
                policy=policy,
                violation_type=violation,
                tag_name=KEY,
                first_detected_at=now,
            )
    rows = [
        focus_row(PROD, "us-east-1", "Amazon EC2", WEB, "Usage", "100.00", "100.00"),
        focus_row(PROD, "us-east-1", "Amazon EC2", API, "Usage", "300.00", "300.00"),
        focus_row(PROD, "us-east-1", "Amazon EC2", "vol-0web", "Usage", "20.00", "20.00"),
        focus_row(PROD, "us-east-1", "Amazon S3", "example-logs", "Usage", "30.00", "30.00"),
        focus_row(DATA, "us-east-1", "Amazon SQS", JOBS, "Usage", "50.00", "50.00"),
        focus_row(PROD, "", "Amazon EC2", "", "Tax", "40.00", "40.00"),
        focus_row(PROD, "", "AWS Support (Business)", "", "Usage", "10.00", "10.00"),
        focus_row(PROD, "us-east-1", "Amazon CloudFront", CDN, "Usage", "25.00", "25.00"),
    ]
    do_import_costs(str(write_csv(tmp_path / "may.csv", FOCUS_HEADER, rows)), acting=Operator())


def add_rules() -> None:
    operator = Operator()
    for position, rule in enumerate(
        [
            AllocationRule(
                tag_key=KEY,
                name="volumes follow their instance",
                resource_types=["ec2:volume"],
                related=AllocationRule.Related.PARENT,
            ),
            AllocationRule(tag_key=KEY, name="data account", value="cc-200", accounts=[DATA]),
            AllocationRule(
                tag_key=KEY, name="CloudFront", value="cc-100", arn_pattern="arn:aws:cloudfront::*"
            ),
        ],
        start=1,
    ):
        rule.position = position
        do_save_allocation_rule(rule, acting=operator)
    do_save_shared_cost_rule(
        SharedCostRule(tag_key=KEY, name="tax", charge_categories=["Tax"], mode="proportional"),
        acting=operator,
    )
    do_save_shared_cost_rule(
        SharedCostRule(
            tag_key=KEY, name="support", services=["AWS Support (Business)"], mode="even"
        ),
        acting=operator,
    )


def cents(answer: showback.Showback) -> dict[str, object]:
    fields = showback.showback_fields(answer)
    return {
        row["value"]: (row["spend"], row["allocated_spend"], row["shared_spend"])
        for row in fields["rows"]
    } | {"as_allocated": fields["as_allocated"]}


def test_as_tagged(tmp_path: Path) -> None:
    build(tmp_path)
    answer = showback.spend_by_tag(Operator(), KEY)

    assert [(r.value, to_cents(r.spend)) for r in answer.rows] == [
        ("cc-200", Decimal("300.00")),
        ("cc-100", Decimal("100.00")),
    ]
    assert (answer.untagged_spend, answer.invalid_spend) == (Decimal(70), Decimal(30))
    assert (answer.unattributable_spend, answer.unmatched_resource_spend) == (
        Decimal(50),
        Decimal(25),
    )
    assert answer.total_spend == Decimal(575)


def test_as_allocated_with_shared_costs(tmp_path: Path) -> None:
    build(tmp_path)
    violations = list(Violation.objects.values_list("resource__arn", "violation_type"))
    add_rules()
    answer = showback.spend_by_tag(Operator(), KEY)

    rows = {r.value: r for r in answer.rows}
    assert rows["cc-100"].allocated_spend == Decimal(145)
    assert rows["cc-100"].allocated_by == (
        ("CloudFront", Decimal(25)),
        ("volumes follow their instance", Decimal(20)),
    )
    assert rows["cc-200"].allocated_spend == Decimal(350)
    # Tax, 40.00 over 145 : 350; each share cut to 1E-10, the 1E-10 left to the larger.
    assert rows["cc-100"].shared_spend == Decimal("11.7171717171") + 5
    assert rows["cc-200"].shared_spend == Decimal("28.2828282829") + 5
    assert cents(answer) == {
        "cc-200": ("300.00", "350.00", "33.28"),
        "cc-100": ("100.00", "145.00", "16.72"),
        "as_allocated": {
            "rules_version": 5,
            "rule_count": 3,
            "shared_rule_count": 2,
            "untagged_spend": "0.00",
            "invalid_spend": "30.00",
            "unattributable_spend": "0.00",
            "unmatched_resource_spend": "0.00",
            "shared_spend": "50.00",
        },
    }
    # Compliance is the policy's alone: the volume and the queue still lack the key.
    assert list(Violation.objects.values_list("resource__arn", "violation_type")) == violations
    assert Resource.objects.get(arn=DISK).is_compliant is False
