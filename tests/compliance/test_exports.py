"""Exports: the violations CSV (columns chosen and checked, formula-safe, costs when a bill is
loaded), Cloud Custodian policies for a known estate, the AWS Organizations tag policy."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
import yaml
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance.core import policy
from compliance.models import AuditEvent, AwsAccount, BillingImport, CostLine
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.reads import exports
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.writes.exemptions import do_create_exemption
from compliance.writes.exports import do_export_violations_csv
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import NotPermitted
from tests.compliance.policies import TEST_POLICY
from tests.compliance.test_scans import ACCOUNT, Estate, estate, scan_now  # noqa: F401
from tests.conftest import grant

pytestmark = pytest.mark.django_db

TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bad-format-table"
FORMULA_QUEUE = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:formula-queue"
FORMULA = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def exported(estate: Estate) -> Estate:  # noqa: F811
    """The scans' estate plus a queue whose Owner value is a spreadsheet formula."""
    boto3.client("sqs", region_name="eu-west-1").create_queue(
        QueueName="formula-queue", tags={"Owner": FORMULA, "Environment": "production"}
    )
    scan_now()
    return estate


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_every_column_by_default_and_one_row_per_violation(exported: Estate) -> None:
    text = exports.export_violations_csv(Operator())
    assert text.splitlines()[0].split(",") == list(exports.CSV_COLUMNS)
    rows = read_csv(text)
    assert len(rows) == 7
    # No bill is loaded: the cost column is there, empty.
    assert {row["cost_impact_monthly"] for row in rows} == {""}


def test_csv_gives_the_chosen_columns_in_the_order_chosen(exported: Estate) -> None:
    text = exports.export_violations_csv(
        Operator(), columns=["tag_name", "resource_arn", "tag_name"]
    )
    lines = text.splitlines()
    assert lines[0] == "tag_name,resource_arn"
    assert f"Owner,{TABLE}" in lines


def test_csv_refuses_an_unknown_column_by_name(exported: Estate) -> None:
    with pytest.raises(exports.ExportError, match="columns: unknown column 'password'"):
        exports.export_violations_csv(Operator(), columns=["resource_arn", "password"])
    with pytest.raises(exports.ExportError, match="columns: choose at least one"):
        exports.export_violations_csv(Operator(), columns=[])


def test_csv_neutralises_formulas_in_tag_values(exported: Estate) -> None:
    rows = read_csv(exports.export_violations_csv(Operator(), columns=["current_value"]))
    assert "'" + FORMULA in {row["current_value"] for row in rows}
    assert FORMULA not in {row["current_value"] for row in rows}


def test_csv_carries_each_resources_monthly_cost_when_a_bill_is_loaded(exported: Estate) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    bill = BillingImport.objects.create(
        source="bill.csv",
        source_format="focus",
        billing_period_start=start,
        billing_period_end=start + timedelta(days=31),
        account_ids=[ACCOUNT],
        row_count=2,
        line_count=1,
        currency="USD",
        effective_total=Decimal("12.3456"),
        billed_total=Decimal("12.3456"),
        imported_by="cli",
    )
    CostLine.objects.create(
        billing_import=bill,
        source_format="focus",
        billing_period_start=start,
        account_id=ACCOUNT,
        region="us-east-1",
        service="Amazon DynamoDB",
        resource_id=TABLE,
        charge_category="Usage",
        effective_cost=Decimal("12.3456"),
        billed_cost=Decimal("12.3456"),
        row_count=2,
    )
    rows = read_csv(
        exports.export_violations_csv(Operator(), columns=["resource_arn", "cost_impact_monthly"])
    )
    costs = {row["resource_arn"]: row["cost_impact_monthly"] for row in rows}
    assert costs[TABLE] == "12.35"
    assert costs[FORMULA_QUEUE] == "0.00"


def test_csv_holds_only_the_accounts_the_viewer_sees(exported: Estate, bob: User) -> None:
    assert read_csv(exports.export_violations_csv(bob)) == []


def test_csv_leaves_exempted_violations_out(exported: Estate) -> None:
    User.objects.create_user("owner")
    do_create_exemption(
        resource_arn=TABLE,
        reason="legacy table",
        owner="owner",
        expires_at=timezone.now() + timedelta(days=7),
        acting=Operator(),
    )
    rows = read_csv(exports.export_violations_csv(Operator(), columns=["resource_arn"]))
    assert len(rows) == 6
    assert TABLE not in {row["resource_arn"] for row in rows}


OWNER_FILTERS = [
    {"tag:Owner": "absent"},
    {
        "and": [
            {"tag:Owner": "present"},
            {
                "not": [
                    {
                        "type": "value",
                        "key": "tag:Owner",
                        "op": "regex-case",
                        "value": r"(?:^[a-z]+@example\.com$)\Z",
                    }
                ]
            },
        ]
    },
]
ENVIRONMENT_FILTERS = [
    {"tag:Environment": "absent"},
    {"type": "value", "key": "tag:Environment", "op": "not-in", "value": ["production", "staging"]},
]


def test_custodian_policy_has_one_report_only_policy_per_violating_type(exported: Estate) -> None:
    text = exports.custodian_policy(Operator())
    assert "REPORT ONLY" in text.splitlines()[1]
    policies = yaml.safe_load(text)["policies"]
    assert [(p["name"], p["resource"]) for p in policies] == [
        ("tag-compliance-dynamodb-table", "aws.dynamodb-table"),
        ("tag-compliance-ec2-instance", "aws.ec2"),
        ("tag-compliance-s3-bucket", "aws.s3"),
        ("tag-compliance-sqs-queue", "aws.sqs"),
    ]
    by_name = {p["name"]: p for p in policies}
    assert by_name["tag-compliance-ec2-instance"]["filters"] == [
        {"or": [*OWNER_FILTERS, *ENVIRONMENT_FILTERS, {"tag:Project": "absent"}]}
    ]
    for name in ("tag-compliance-dynamodb-table", "tag-compliance-s3-bucket"):
        assert by_name[name]["filters"] == [{"or": [*OWNER_FILTERS, *ENVIRONMENT_FILTERS]}]
    assert all(p["actions"] == [] for p in policies)


def test_custodian_policy_leaves_out_types_whose_violations_are_all_exempted(
    exported: Estate,
) -> None:
    User.objects.create_user("owner")
    do_create_exemption(
        resource_type="s3:bucket",
        reason="buckets are handled by the data team",
        owner="owner",
        expires_at=timezone.now() + timedelta(days=7),
        acting=Operator(),
    )
    policies = yaml.safe_load(exports.custodian_policy(Operator()))["policies"]
    assert "aws.s3" not in {p["resource"] for p in policies}
    assert len(policies) == 3


def test_custodian_policy_follows_the_viewers_grants(exported: Estate, alice: User) -> None:
    assert yaml.safe_load(exports.custodian_policy(alice))["policies"] == []
    grant(alice, AwsAccount.objects.get(account_id=ACCOUNT))
    assert len(yaml.safe_load(exports.custodian_policy(alice))["policies"]) == 4


def test_custodian_wildcard_values_become_glob_matches() -> None:
    rule = policy.TagRule(name="CostCenter", allowed_values=("CC-*", "shared"))
    assert exports._value_filters(rule) == [
        {
            "and": [
                {"tag:CostCenter": "present"},
                {
                    "not": [
                        {
                            "or": [
                                {
                                    "type": "value",
                                    "key": "tag:CostCenter",
                                    "op": "in",
                                    "value": ["shared"],
                                },
                                {
                                    "type": "value",
                                    "key": "tag:CostCenter",
                                    "op": "glob",
                                    "value": "CC-*",
                                },
                            ]
                        }
                    ]
                },
            ]
        }
    ]


def test_every_collected_type_has_a_custodian_resource() -> None:
    from compliance.aws import RESOURCE_TYPES

    assert set(RESOURCE_TYPES) <= set(exports.CUSTODIAN_RESOURCES)


def test_aws_org_policy_reads_back_to_the_same_required_tags(db: None) -> None:
    do_import_policy(TEST_POLICY, acting=Operator())
    text = exports.aws_org_policy(Operator())
    back = policy.parse_policy(text)
    assert back.source_format == "aws_org"
    original = policy.parse_policy(TEST_POLICY)
    assert {(r.name, r.allowed_values, r.applies_to) for r in back.required_tags} == {
        (r.name, r.allowed_values, r.applies_to) for r in original.required_tags
    }
    assert json.loads(text)["tags"]["project"]["enforced_for"] == {"@@assign": ["ec2:instance"]}


def test_aws_org_policy_needs_a_signed_in_viewer_and_an_active_policy(db: None) -> None:
    with pytest.raises(exports.ExportError, match="policy: no tagging policy is active"):
        exports.aws_org_policy(Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    with pytest.raises(exports.ExportError, match="permission: sign in"):
        exports.aws_org_policy(AnonymousUser())


def test_export_command_prints_each_export(exported: Estate) -> None:
    out = io.StringIO()
    call_command("export", "violations-csv", "--columns", "resource_arn,tag_name", stdout=out)
    assert out.getvalue().splitlines()[0] == "resource_arn,tag_name"
    assert len(out.getvalue().splitlines()) == 8

    out = io.StringIO()
    call_command("export", "custodian", "--account", ACCOUNT, stdout=out)
    assert len(yaml.safe_load(out.getvalue())["policies"]) == 4

    out = io.StringIO()
    call_command("export", "aws-org-policy", stdout=out)
    assert policy.parse_policy(out.getvalue()).required_tags


def test_export_command_names_a_bad_column_or_account(exported: Estate) -> None:
    with pytest.raises(CommandError, match="unknown column 'nope'"):
        call_command("export", "violations-csv", "--columns", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="account: not found or not visible"):
        call_command("export", "custodian", "--account", "999999999999", stdout=io.StringIO())


def test_a_credit_stays_a_number_in_the_violations_csv() -> None:
    from decimal import Decimal

    from compliance.reads import exports, reports

    assert reports.csv_safe(exports._money(Decimal("-2.5"))) == Decimal("-2.50")
    assert reports.csv_safe("-2.50") == "'-2.50"


def test_an_export_naming_an_account_one_may_not_see_is_refused_and_audited_as_denied(
    exported: Estate, alice: User
) -> None:
    assign_role(alice, Role.ANALYST)
    with pytest.raises(AccountNotVisible):
        do_export_violations_csv(alice, ResourceFilter(account_ids=[ACCOUNT]))
    row = AuditEvent.objects.get(event_type="export.violations")
    assert (row.outcome, row.actor_label) == ("denied", "alice")
    assert ACCOUNT in row.detail["error"]


def test_a_viewer_may_read_violations_but_not_export_them(exported: Estate, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=ACCOUNT))
    with pytest.raises(NotPermitted, match=r"your role \(viewer\) may not export data"):
        do_export_violations_csv(alice, ResourceFilter(account_ids=[ACCOUNT]))
    assert not AuditEvent.objects.filter(event_type="export.violations").exists()
    refusal = AuditEvent.objects.get(event_type="auth.permission_denied")
    assert refusal.detail["action"] == "export"


def test_custodian_policies_sharing_a_resource_keep_to_their_own_engine(estate: Estate) -> None:  # noqa: F811
    rds = boto3.client("rds", region_name="us-east-1")
    for name, engine in (("orders", "aurora-postgresql"), ("graph", "neptune")):
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine=engine,
            MasterUsername="admin",
            MasterUserPassword="not-a-secret-1",
        )
    scan_now(resource_types=["rds:cluster", "neptune:cluster"])
    policies = {
        p["name"]: p for p in yaml.safe_load(exports.custodian_policy(Operator()))["policies"]
    }
    rds_cluster, neptune = (
        policies["tag-compliance-rds-cluster"],
        policies["tag-compliance-neptune-cluster"],
    )
    assert rds_cluster["resource"] == neptune["resource"] == "aws.rds-cluster"
    assert rds_cluster["filters"][0] == {
        "type": "value",
        "key": "Engine",
        "op": "not-in",
        "value": ["docdb", "neptune"],
    }
    assert neptune["filters"][0] == {"type": "value", "key": "Engine", "value": "neptune"}
    assert list(neptune["filters"][1]) == ["or"]
