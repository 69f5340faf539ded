"""Scans end to end against moto: exact inventory, violations, drift, gone resources, partial
and failed scans, and readers that never see a half-written scan."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command

from compliance import reads
from compliance.aws.base import DiscoveredResource, JobOutcome
from compliance.models import (
    AuditEvent,
    ComplianceSnapshot,
    Resource,
    Scan,
    ScanItem,
    TagChange,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.scans import _collect, execute_scan, finalise, outcome_record
from compliance.scans.staging import clear as clear_staging
from compliance.scans.staging import stage
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-west-1"]
TYPES = ["ec2:instance", "s3:bucket", "sqs:queue", "dynamodb:table"]


def tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


class Estate:
    """A small estate whose right answers are worked out by hand below."""

    def __init__(self) -> None:
        self.ec2 = boto3.client("ec2", region_name="us-east-1")
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        compliant = self.ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": tags(Owner="ann@example.com", Environment="production", Project="x"),
                }
            ],
        )
        self.compliant_instance = compliant["Instances"][0]["InstanceId"]
        untagged = self.ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)
        self.untagged_instance = untagged["Instances"][0]["InstanceId"]

        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="wrong-case-bucket",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
        s3.put_bucket_tagging(
            Bucket="wrong-case-bucket",
            Tagging={"TagSet": tags(owner="ann@example.com", Environment="prod")},
        )
        sqs = boto3.client("sqs", region_name="eu-west-1")
        self.queue_url = sqs.create_queue(
            QueueName="good-queue", tags={"Owner": "bob@example.com", "Environment": "staging"}
        )["QueueUrl"]
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="bad-format-table",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=tags(Owner="Bob", Environment="staging"),
        )

    def arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance_id}"

    @property
    def all_arns(self) -> list[str]:
        return sorted(
            [
                self.arn(self.compliant_instance),
                self.arn(self.untagged_instance),
                "arn:aws:s3:::wrong-case-bucket",
                f"arn:aws:sqs:eu-west-1:{ACCOUNT}:good-queue",
                f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bad-format-table",
            ]
        )


@pytest.fixture
def estate(mocked_aws: None) -> Estate:
    operator = Operator()
    do_add_account(account_id=ACCOUNT, name="prod", regions=REGIONS, acting=operator)
    do_import_policy(TEST_POLICY, acting=operator)
    return Estate()


def scan_now(**scope: Any) -> Scan:
    scope.setdefault("resource_types", TYPES)
    scan = do_request_scan(acting=Operator(), **scope)
    return execute_scan(scan.pk)


def violations() -> list[tuple[str, str, str, str | None]]:
    return sorted(
        (v.resource.arn, v.violation_type, v.tag_name, v.current_value)
        for v in Violation.objects.select_related("resource")
    )


def test_first_scan_finds_exactly_the_estate_and_its_violations(estate: Estate) -> None:
    scan = scan_now()
    assert scan.status == Scan.Status.COMPLETE
    assert scan.data_quality == "complete"
    assert sorted(Resource.objects.values_list("arn", flat=True)) == estate.all_arns
    assert (scan.total_resources, scan.in_scope_resources, scan.compliant_resources) == (5, 5, 2)
    assert scan.violation_count == 6
    assert scan.compliance_score == pytest.approx(0.4)
    untagged = estate.arn(estate.untagged_instance)
    assert violations() == sorted(
        [
            (untagged, "missing_required_tag", "Owner", None),
            (untagged, "missing_required_tag", "Environment", None),
            (untagged, "missing_required_tag", "Project", None),
            ("arn:aws:s3:::wrong-case-bucket", "wrong_key_case", "Owner", "ann@example.com"),
            ("arn:aws:s3:::wrong-case-bucket", "invalid_value", "Environment", "prod"),
            (
                f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bad-format-table",
                "invalid_format",
                "Owner",
                "Bob",
            ),
        ]
    )
    bucket = Resource.objects.get(arn="arn:aws:s3:::wrong-case-bucket")
    assert (bucket.region, bucket.resource_type, bucket.is_compliant) == (
        "eu-west-1",
        "s3:bucket",
        False,
    )
    assert Violation.objects.filter(policy__version=1).count() == 6
    assert not ScanItem.objects.exists()


def test_snapshots_aggregate_by_account_region_type_and_tag(estate: Estate) -> None:
    scan = scan_now()
    rows = {
        (s.dimension, s.key): (s.total_resources, s.in_scope, s.compliant, s.violations)
        for s in ComplianceSnapshot.objects.filter(scan=scan)
    }
    assert rows[("account", "")] == (5, 5, 2, 6)
    assert rows[("region", "us-east-1")] == (3, 3, 1, 4)
    assert rows[("region", "eu-west-1")] == (2, 2, 1, 2)
    assert rows[("resource_type", "ec2:instance")] == (2, 2, 1, 3)
    # Project applies to the two instances only; one of them lacks it.
    assert rows[("tag_key", "Project")] == (2, 2, 1, 1)
    assert rows[("tag_key", "Owner")] == (5, 5, 2, 3)
    assert rows[("tag_key", "Environment")] == (5, 5, 3, 2)


def test_second_scan_records_drift_and_marks_gone_resources(estate: Estate) -> None:
    first = scan_now()
    estate.ec2.create_tags(
        Resources=[estate.compliant_instance],
        Tags=tags(Environment="staging", CostCenter="CC-1"),
    )
    estate.ec2.delete_tags(Resources=[estate.compliant_instance], Tags=[{"Key": "Project"}])
    estate.ec2.terminate_instances(InstanceIds=[estate.untagged_instance])
    boto3.client("sqs", region_name="eu-west-1").delete_queue(QueueUrl=estate.queue_url)

    second = scan_now()
    assert second.status == Scan.Status.COMPLETE
    changes = sorted(
        (c.key, c.kind, c.old_value, c.new_value)
        for c in TagChange.objects.filter(
            scan=second, resource__arn=estate.arn(estate.compliant_instance)
        )
    )
    assert changes == [
        ("CostCenter", "added", None, "CC-1"),
        ("Environment", "changed", "production", "staging"),
        ("Project", "removed", "x", None),
    ]
    gone = Resource.objects.filter(gone_since__isnull=False).values_list("arn", flat=True)
    assert sorted(gone) == sorted(
        [estate.arn(estate.untagged_instance), f"arn:aws:sqs:eu-west-1:{ACCOUNT}:good-queue"]
    )
    assert Resource.objects.count() == 5  # gone, not deleted
    assert second.total_resources == 3
    compliant_instance = Resource.objects.get(arn=estate.arn(estate.compliant_instance))
    assert (
        compliant_instance.first_seen_at
        == Resource.objects.get(arn=compliant_instance.arn).first_seen_at
    )
    assert compliant_instance.last_seen_scan_id == second.pk
    assert compliant_instance.first_seen_at < compliant_instance.last_seen_at
    assert first.pk != second.pk
    # The violations of gone resources no longer count.
    assert not Violation.objects.filter(resource__gone_since__isnull=False).exists()


def test_unchanged_violation_keeps_its_first_detection_time(estate: Estate) -> None:
    scan_now()
    first = Violation.objects.get(violation_type="invalid_format").first_detected_at
    scan_now()
    assert Violation.objects.get(violation_type="invalid_format").first_detected_at == first


@pytest.fixture
def deny_region(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Make every AWS call in the named regions fail with AccessDenied, as a real SCP would."""
    from compliance.aws import session as aws_session

    denied: set[str] = set()
    original = aws_session.client

    def client_with_denial(session: Any, service: str, region: str, **kwargs: Any) -> Any:
        made = original(session, service, region, **kwargs)

        def refuse(model: Any, **_: Any) -> None:
            if region in denied:
                error = {"Error": {"Code": "AccessDenied", "Message": "denied by SCP"}}
                raise ClientError(error, model.name)

        made.meta.events.register("before-call.*.*", refuse)
        return made

    monkeypatch.setattr(aws_session, "client", client_with_denial)
    return denied


def test_access_denied_region_gives_a_partial_scan_and_keeps_its_resources(
    estate: Estate, deny_region: set[str]
) -> None:
    scan_now()
    deny_region.add("eu-west-1")
    partial = scan_now()
    assert partial.status == Scan.Status.PARTIAL
    assert partial.data_quality == "partial"
    assert any("eu-west-1" in e and "AccessDenied" in e for e in partial.errors)
    # What could not be read is not "gone": the eu-west-1 queue and bucket stay current.
    assert not Resource.objects.filter(gone_since__isnull=False).exists()
    assert partial.total_resources == 5
    block = reads.scan_block(partial, Operator())
    assert block is not None
    assert block["data_quality"] == "partial"
    assert any("AccessDenied" in f for f in block["failed"])


def test_scan_where_everything_fails_changes_nothing(estate: Estate, deny_region: set[str]) -> None:
    good = scan_now()
    deny_region.update(REGIONS)
    failed = scan_now()
    assert failed.status == Scan.Status.FAILED
    assert failed.data_quality is None
    assert reads.latest_scan() == good
    assert Resource.objects.filter(gone_since__isnull=True).count() == 5
    assert AuditEvent.objects.filter(event_type="scan.failed", target=f"scan #{failed.pk}").exists()


def test_readers_see_the_last_finished_scan_until_the_next_one_is_final(estate: Estate) -> None:
    first = scan_now()
    boto3.client("sqs", region_name="eu-west-1").delete_queue(QueueUrl=estate.queue_url)
    second = do_request_scan(acting=Operator(), resource_types=TYPES)
    Scan.objects.filter(pk=second.pk).update(status=Scan.Status.RUNNING)
    second.refresh_from_db()
    _collect(second, None)  # collected into staging, not yet final
    summary = reads.compliance_summary(Operator())
    assert reads.latest_scan() == first
    assert summary.total_resources == 5
    assert ScanItem.objects.filter(scan=second).count() == 4
    finalise(second)
    assert reads.latest_scan() == second
    assert reads.compliance_summary(Operator()).total_resources == 4


def test_a_scan_can_only_be_claimed_once(estate: Estate) -> None:
    scan = scan_now()
    from compliance.scans import ScanNotRunnable

    with pytest.raises(ScanNotRunnable):
        execute_scan(scan.pk)


def test_scan_command_json_gives_exact_totals(estate: Estate) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("scan", "--json", "--types", ",".join(TYPES), stdout=out, stderr=err)
    result = json.loads(out.getvalue())
    assert {k: result[k] for k in ("status", "data_quality", "total_resources")} == {
        "status": "complete",
        "data_quality": "complete",
        "total_resources": 5,
    }
    assert (result["compliant_resources"], result["violations"]) == (2, 6)
    assert result["compliance_score"] == 0.4
    assert result["by_type"]["ec2:instance"]["total_resources"] == 2
    assert result["by_type"]["s3:bucket"]["violations"] == 2
    assert result["by_region"]["eu-west-1"]["total_resources"] == 2
    assert result["scan_id"] == Scan.objects.get().pk
    assert "jobs" in err.getvalue()


def test_a_scan_counts_its_requests_to_aws(estate: Estate) -> None:
    out = io.StringIO()
    call_command("scan", "--json", "--types", ",".join(TYPES), stdout=out, stderr=io.StringIO())
    result = json.loads(out.getvalue())
    scan = Scan.objects.get()
    by_job = [outcome["requests"] for outcome in scan.outcomes]
    assert all(requests >= 1 for requests in by_job)
    # Reaching the account (no role, its regions configured) is one GetCallerIdentity.
    assert result["aws_requests"] == scan.aws_requests == sum(by_job) + 1
    assert result["throttled_requests"] == scan.throttled_requests == 0
    # Five resources of four types in two regions: far fewer requests than one per resource
    # and per job would take with a tag call per resource.
    assert scan.aws_requests < 2 * len(by_job) + 5


def test_list_scans_gives_the_request_counts_to_who_sees_every_account(estate: Estate) -> None:
    from mcp_endpoint.tools.base import ToolCall
    from mcp_endpoint.tools.scan_tools import ScansInput, list_scans

    scan = scan_now()
    params = ScansInput(limit=20, cursor=None)
    listed = list_scans(ToolCall(viewer=Operator(), interface="test"), params)["scans"][0]
    assert (listed["id"], listed["aws_requests"], listed["throttled_requests"]) == (
        scan.pk,
        scan.aws_requests,
        0,
    )
    assert scan.aws_requests > 0


def test_a_scan_naming_regions_still_covers_global_resources(estate: Estate) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    trust = '{"Version": "2012-10-17", "Statement": []}'
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust)["Role"]
    first = scan_now(regions=["eu-west-1"], resource_types=["iam:role"])
    assert first.total_resources == 1
    assert Resource.objects.get(arn=role["Arn"]).region == "global"
    iam.delete_role(RoleName="reader")
    scan_now(regions=["eu-west-1"], resource_types=["iam:role"])
    assert Resource.objects.get(arn=role["Arn"]).gone_since is not None


def test_scan_command_fails_with_status_1_when_nothing_could_be_read(
    estate: Estate, deny_region: set[str]
) -> None:
    deny_region.update(REGIONS)
    with pytest.raises(CommandError) as failure:
        call_command("scan", "--types", "sqs:queue", stdout=io.StringIO(), stderr=io.StringIO())
    assert failure.value.returncode == 1
    assert "AccessDenied" in str(failure.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--types", "ec2:spaceship"], "unknown resource type"),
        (["--regions", "moon-1"], "is not an AWS region name"),
        (["--account", "999999999999"], "not registered"),
    ],
)
def test_scan_command_refuses_bad_scope(estate: Estate, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("scan", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Scan.objects.exists()
    assert AuditEvent.objects.filter(event_type="scan.requested", outcome="denied").count() == 1


def test_report_after_a_scan_in_every_format(estate: Estate) -> None:
    scan_now()
    out = io.StringIO()
    call_command("report", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["total_resources"], report["violation_count"]) == (5, 6)
    assert len(report["violations"]) == 6
    csv_out = io.StringIO()
    call_command("report", "--format", "csv", stdout=csv_out)
    lines = csv_out.getvalue().splitlines()
    assert lines[0].startswith("resource_arn,resource_type,region,account_id,violation_type")
    assert len(lines) == 7
    md = io.StringIO()
    call_command("report", "--format", "markdown", stdout=md)
    assert "Compliance score: 40.0%" in md.getvalue()


# --- Finalisation of hand-staged items: the same steps on SQLite (ORM) and PostgreSQL (SQL) ---

QUEUE_US = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
QUEUE_EU = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:billing"
GOOD = {"Owner": "ann@example.com", "Environment": "production"}
BAD = {"Owner": "Bob", "Environment": "prod"}  # invalid_format Owner, invalid_value Environment


def queue(arn: str, tags: dict[str, str], account_id: str = ACCOUNT) -> DiscoveredResource:
    return DiscoveredResource(
        arn=arn,
        resource_type="sqs:queue",
        account_id=account_id,
        region=arn.split(":")[3],
        name=arn.rsplit(":", 1)[1],
        tags=tags,
    )


def finalise_staged(
    *batches: list[DiscoveredResource], failed_regions: tuple[str, ...] = ()
) -> Scan:
    """A scan of sqs:queue in both regions whose collect phase staged ``batches``."""
    scan = do_request_scan(acting=Operator(), resource_types=["sqs:queue"])
    for batch in batches:
        stage(scan, batch)
    scan.outcomes = [
        outcome_record(
            JobOutcome(ACCOUNT, region, "sqs:queue", "failed" if region in failed_regions else "ok")
        )
        for region in REGIONS
    ]
    finalise(scan)
    return scan


@pytest.fixture
def prod_account(db: None) -> None:
    do_add_account(account_id=ACCOUNT, name="prod", regions=REGIONS, acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())


def judged(arn: str) -> tuple[bool | None, int, list[tuple[str, str, int]]]:
    resource = Resource.objects.get(arn=arn)
    return (
        resource.is_compliant,
        resource.violation_count,
        sorted(
            (v.violation_type, v.tag_name, v.policy.version)
            for v in resource.violations.select_related("policy")
        ),
    )


def test_finalise_judges_staged_items_and_leaves_out_accounts_not_asked_for(
    prod_account: None,
) -> None:
    stranger = "arn:aws:sqs:us-east-1:999999999999:not-ours"
    scan = finalise_staged(
        [queue(QUEUE_US, GOOD), queue(stranger, GOOD, account_id="999999999999")],
        [queue(QUEUE_EU, BAD)],
    )
    assert scan.status == Scan.Status.COMPLETE
    assert sorted(Resource.objects.values_list("arn", flat=True)) == sorted([QUEUE_EU, QUEUE_US])
    assert judged(QUEUE_US) == (True, 0, [])
    assert judged(QUEUE_EU) == (
        False,
        2,
        [("invalid_format", "Owner", 1), ("invalid_value", "Environment", 1)],
    )
    assert (scan.total_resources, scan.compliant_resources, scan.violation_count) == (2, 1, 2)
    eu = Resource.objects.get(arn=QUEUE_EU)
    assert (eu.region, eu.name, eu.last_seen_scan_id, eu.gone_since) == (
        "eu-west-1",
        "billing",
        scan.pk,
        None,
    )
    assert eu.first_seen_at == eu.last_seen_at == scan.finished_at


def test_an_arn_staged_twice_keeps_the_first_sighting(prod_account: None) -> None:
    scan = do_request_scan(acting=Operator(), resource_types=["sqs:queue"])
    stage(scan, [queue(QUEUE_US, GOOD), queue(QUEUE_US, BAD)])  # twice in one batch
    stage(scan, [queue(QUEUE_EU, BAD), queue(QUEUE_US, {})])  # again in a later batch
    staged = {item.arn: item.tags for item in ScanItem.objects.filter(scan=scan)}
    assert staged == {QUEUE_US: GOOD, QUEUE_EU: BAD}


def test_clearing_staging_keeps_the_items_of_other_scans(prod_account: None) -> None:
    running = do_request_scan(acting=Operator(), resource_types=["sqs:queue"])
    stage(running, [queue(QUEUE_US, GOOD), queue(QUEUE_EU, BAD)])
    finished = do_request_scan(acting=Operator(), resource_types=["sqs:queue"])
    stage(finished, [queue(QUEUE_US, GOOD)])
    clear_staging(finished)
    assert not ScanItem.objects.filter(scan=finished).exists()
    assert ScanItem.objects.filter(scan=running).count() == 2
    clear_staging(running)
    assert not ScanItem.objects.exists()


def test_tag_changes_tell_an_empty_value_from_an_absent_key(prod_account: None) -> None:
    finalise_staged([queue(QUEUE_US, {**GOOD, "Team": ""})])
    second = finalise_staged([queue(QUEUE_US, {**GOOD, "Environment": "staging", "Team": "x"})])
    third = finalise_staged([queue(QUEUE_US, {"Owner": "ann@example.com", "Cost": ""})])
    changes = sorted(
        (c.scan_id, c.key, c.kind, c.old_value, c.new_value)
        for c in TagChange.objects.filter(resource__arn=QUEUE_US)
    )
    assert changes == [
        (second.pk, "Environment", "changed", "production", "staging"),
        (second.pk, "Team", "changed", "", "x"),
        (third.pk, "Cost", "added", None, ""),
        (third.pk, "Environment", "removed", "staging", None),
        (third.pk, "Team", "removed", "x", None),
    ]


def test_a_resource_that_comes_back_is_present_again_and_keeps_its_first_sighting(
    prod_account: None,
) -> None:
    first = finalise_staged([queue(QUEUE_US, GOOD), queue(QUEUE_EU, BAD)])
    second = finalise_staged([queue(QUEUE_US, GOOD)])
    eu = Resource.objects.get(arn=QUEUE_EU)
    assert eu.gone_since == second.finished_at
    assert not eu.violations.exists()
    third = finalise_staged([queue(QUEUE_US, GOOD), queue(QUEUE_EU, BAD)])
    eu.refresh_from_db()
    assert (eu.gone_since, eu.last_seen_scan_id) == (None, third.pk)
    assert (eu.first_seen_at, eu.last_seen_at) == (first.finished_at, third.finished_at)
    # Its violations start again: those of a gone resource were dropped.
    assert {v.first_detected_at for v in eu.violations.all()} == {third.finished_at}
    assert third.total_resources == 2


def test_unseen_resources_are_judged_by_the_new_policy_and_keep_first_detection(
    prod_account: None,
) -> None:
    first = finalise_staged([queue(QUEUE_US, GOOD), queue(QUEUE_EU, BAD)])
    relaxed = json.loads(TEST_POLICY)
    relaxed["required_tags"][1]["allowed_values"].append("prod")
    do_import_policy(json.dumps(relaxed), acting=Operator())
    partial = finalise_staged([queue(QUEUE_US, GOOD)], failed_regions=("eu-west-1",))
    assert partial.status == Scan.Status.PARTIAL
    # Not seen (its region failed), not gone, and judged with version 2 on its last tags.
    assert Resource.objects.get(arn=QUEUE_EU).gone_since is None
    assert judged(QUEUE_EU) == (False, 1, [("invalid_format", "Owner", 2)])
    kept = Violation.objects.get(resource__arn=QUEUE_EU)
    assert (kept.first_detected_at, kept.scan_id) == (first.finished_at, partial.pk)
    assert (partial.total_resources, partial.compliant_resources, partial.violation_count) == (
        2,
        1,
        1,
    )
