"""Scans fanned out across task workers: one task per account x region, one scan at the end.

Each fanned-out scan is compared, figure by figure, with the same scan run in one process
(``execute_scan``) on the same moto estate. The tasks run in this process through the dummy
task backend, in an order the test chooses (shuffled, one killed mid-way and run again, the
finalisation twice), and once through real ``manage.py db_worker`` processes.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError
from django.db import connection
from django.forms.models import model_to_dict
from django.test import Client
from django_tasks import task_backends
from django_tasks.backends.dummy import DummyBackend

from compliance.audit.events import EventType
from compliance.demo.fake_aws import moto_server
from compliance.models import (
    AuditEvent,
    ComplianceSnapshot,
    Resource,
    Scan,
    ScanItem,
    ScanPartition,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.scans import execute_scan, fanout, staging
from compliance.scans import tasks as scan_tasks
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan, do_start_scan
from tests.compliance.policies import TEST_POLICY

MAIN = "123456789012"
OTHER = "210987654321"
OTHER_ROLE = f"arn:aws:iam::{OTHER}:role/TagComplianceReader"
MAIN_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
OTHER_REGIONS = ["us-east-1", "eu-west-1"]
TYPES = ["dynamodb:table", "logs:log-group", "s3:bucket", "sns:topic", "sqs:queue"]
#: (account, region) partitions of a scan of TYPES, plus one "global" partition per account.
PARTITIONS = 3 + 1 + 2 + 1
#: Four regional types per region, one global type per account.
JOBS = 3 * 4 + 1 + 2 * 4 + 1

GOOD = {"Owner": "ann@example.com", "Environment": "production"}
PROFILES: list[dict[str, str]] = [
    GOOD,
    {"Owner": "Ann", "Environment": "production"},  # invalid_format
    {"owner": "ann@example.com", "Environment": "prod"},  # wrong_key_case, invalid_value
    {},  # never tagged: two missing_required_tag
]


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _session(account: str) -> boto3.session.Session:
    if account == MAIN:
        return boto3.session.Session()
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=OTHER_ROLE, RoleSessionName="seeder"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def seed_estate() -> int:
    """Two accounts, queues, topics, log groups and tables in every region, buckets in and out
    of the scanned regions. Returns how many resources a complete scan finds."""
    count = 0
    for account, regions in ((MAIN, MAIN_REGIONS), (OTHER, OTHER_REGIONS)):
        session = _session(account)
        for region in regions:
            sqs = session.client("sqs", region_name=region)
            sns = session.client("sns", region_name=region)
            logs = session.client("logs", region_name=region)
            dynamodb = session.client("dynamodb", region_name=region)
            for index, tags in enumerate(PROFILES):
                sqs.create_queue(QueueName=f"queue-{index}", tags=tags)
                sns.create_topic(Name=f"topic-{index}", Tags=_tag_list(tags))
                logs.create_log_group(logGroupName=f"/app/{index}", tags=tags)
            dynamodb.create_table(
                TableName="orders",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=_tag_list(PROFILES[2]),
            )
            count += 3 * len(PROFILES) + 1
        # The second bucket lies outside the account's regions: listed all the same, as S3's
        # bucket list is account-wide.
        for name, region in ((f"data-{account}", "eu-west-1"), (f"logs-{account}", "us-west-2")):
            s3 = session.client("s3", region_name=region)
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(GOOD)})
            count += 1
    return count


def register_estate() -> None:
    operator = Operator()
    do_add_account(account_id=MAIN, name="main", regions=MAIN_REGIONS, acting=operator)
    do_add_account(
        account_id=OTHER, name="other", role_arn=OTHER_ROLE, regions=OTHER_REGIONS, acting=operator
    )
    do_import_policy(TEST_POLICY, acting=operator)


@pytest.fixture
def estate(mocked_aws: None, db: None) -> int:
    register_estate()
    return seed_estate()


class Queue:
    """The dummy task backend's queue, run by hand."""

    def __init__(self) -> None:
        backend = task_backends["default"]
        assert isinstance(backend, DummyBackend)
        self.backend = backend
        self.taken = 0

    def take(self) -> list[Any]:
        new = self.backend.results[self.taken :]
        self.taken = len(self.backend.results)
        return list(new)

    @staticmethod
    def run(result: Any) -> Any:
        return result.task.call(*result.args, **result.kwargs)

    def drain(self, rng: random.Random | None = None) -> list[str]:
        """Run everything queued, and whatever that queues, until nothing is left; returns the
        names of the tasks run, in order."""
        ran = []
        while pending := self.take():
            if rng:
                rng.shuffle(pending)
            for result in pending:
                self.run(result)
                ran.append(result.task.name)
        return ran


@pytest.fixture
def queue(settings: Any) -> Queue:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    return Queue()


def start_fanned_out(**scope: Any) -> Scan:
    scope.setdefault("resource_types", TYPES)
    return do_start_scan(acting=Operator(), **scope)


def one_process_scan(**scope: Any) -> Scan:
    scope.setdefault("resource_types", TYPES)
    return execute_scan(do_request_scan(acting=Operator(), **scope).pk)


def figures(scan: Scan) -> dict[str, Any]:
    """Everything a scan leaves for readers, without ids, times and durations."""
    scan.refresh_from_db()
    moments = {"first_seen_at", "last_seen_at", "last_seen_scan", "id", "account"}
    return {
        "scan": {
            "status": scan.status,
            "total_resources": scan.total_resources,
            "in_scope_resources": scan.in_scope_resources,
            "compliant_resources": scan.compliant_resources,
            "violation_count": scan.violation_count,
            "resources_seen": scan.resources_seen,
            "errors": sorted(scan.errors),
            "outcomes": sorted(
                tuple(sorted((k, v) for k, v in o.items() if k != "duration_ms"))
                for o in scan.outcomes
            ),
        },
        "resources": sorted(
            (r.account.account_id, sorted(model_to_dict(r, exclude=moments).items()))
            for r in Resource.objects.select_related("account")
        ),
        "violations": sorted(
            (v.resource.arn, v.violation_type, v.tag_name, v.current_value or "", v.expected)
            for v in Violation.objects.select_related("resource")
        ),
        "snapshots": sorted(
            (
                tuple(sorted(model_to_dict(s, exclude={"id", "scan", "taken_at"}).items()))
                for s in ComplianceSnapshot.objects.filter(scan=scan)
            ),
            key=repr,  # some values are None
        ),
    }


def test_a_fanned_out_scan_equals_the_same_scan_in_one_process(estate: int, queue: Queue) -> None:
    scan = start_fanned_out()
    ran = queue.drain(random.Random(3))

    assert ran.count("start_scan_task") == 1
    assert ran.count("run_partition_task") == PARTITIONS
    assert ran.count("finalise_scan_task") == 1
    fanned_out = figures(scan)
    assert fanned_out["scan"]["status"] == Scan.Status.COMPLETE
    # 13 per region (4 queues, 4 topics, 4 log groups, a table) in 5 regions, and 4 buckets.
    assert fanned_out["scan"]["total_resources"] == estate == 69
    assert fanned_out["scan"]["resources_seen"] == estate
    # 5 per type of queue, topic and log group (1 + 2 + 2), 2 per table, in every region.
    assert len(fanned_out["violations"]) == (3 * 5 + 2) * 5
    assert Resource.objects.filter(last_seen_scan=scan, gone_since__isnull=True).count() == estate
    assert sorted(scan.partitions.values_list("account_id", "region", "status", "attempt")) == [
        (MAIN, "ap-southeast-2", "done", 1),
        (MAIN, "eu-west-1", "done", 1),
        (MAIN, "global", "done", 1),
        (MAIN, "us-east-1", "done", 1),
        (OTHER, "eu-west-1", "done", 1),
        (OTHER, "global", "done", 1),
        (OTHER, "us-east-1", "done", 1),
    ]
    assert (scan.progress_done, scan.progress_total) == (JOBS, JOBS)
    assert not ScanItem.objects.exists()

    reference = one_process_scan()
    assert figures(reference) == fanned_out


def test_progress_shows_while_partitions_run(estate: int, queue: Queue) -> None:
    scan = start_fanned_out()
    (start,) = queue.take()
    queue.run(start)
    scan.refresh_from_db()
    assert (scan.status, scan.progress_done, scan.progress_total) == ("running", 0, JOBS)

    partitions = queue.take()
    assert len(partitions) == PARTITIONS
    chosen = {_partition_id(scan, MAIN, "us-east-1"), _partition_id(scan, MAIN, "eu-west-1")}
    for result in partitions:
        if result.args[1] in chosen:
            queue.run(result)
    scan.refresh_from_db()
    done = scan.partitions.filter(status="done")
    assert scan.status == "running"
    assert scan.progress_done == sum(p.jobs for p in done) == 8
    assert scan.resources_seen == sum(p.resources_seen for p in done) == 26
    assert ScanItem.objects.filter(scan=scan).count() == 26
    assert len(scan.outcomes) == 8
    assert not queue.take()  # nothing to finalise yet


def _partition_id(scan: Scan, account: str, region: str) -> int:
    return ScanPartition.objects.get(scan=scan, account_id=account, region=region).pk


def test_the_last_partition_queues_the_finalisation_once_and_a_second_one_changes_nothing(
    estate: int, queue: Queue
) -> None:
    scan = start_fanned_out()
    queue.run(queue.take()[0])
    for result in queue.take():
        queue.run(result)
    finalisations = queue.take()
    assert [r.task.name for r in finalisations] == ["finalise_scan_task"]

    assert queue.run(finalisations[0]) == "complete"
    state = figures(scan)
    assert queue.run(finalisations[0]) == "finished already"
    assert scan_tasks.finalise_scan_task.call(scan.pk) == "finished already"
    assert figures(scan) == state
    assert ComplianceSnapshot.objects.filter(scan=scan).count() == len(state["snapshots"])
    finished = AuditEvent.objects.filter(
        event_type=EventType.SCAN_FINISHED, target=f"scan #{scan.pk}"
    )
    assert finished.count() == 1


def test_a_finalisation_queued_early_waits_for_the_partitions(estate: int, queue: Queue) -> None:
    scan = start_fanned_out()
    queue.run(queue.take()[0])
    assert fanout.finalise_fanned_out(scan.pk) == "partitions still running"
    scan.refresh_from_db()
    assert scan.status == "running"
    assert not ComplianceSnapshot.objects.filter(scan=scan).exists()


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the task gets to handle it."""


def test_a_partition_run_again_after_its_worker_died_stages_nothing_twice(
    estate: int, queue: Queue, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SCAN_BATCH_SIZE = 1  # a batch per resource: the worker dies between two of them
    scan = start_fanned_out()
    queue.run(queue.take()[0])
    partitions = queue.take()
    victim = _partition_id(scan, MAIN, "eu-west-1")
    for result in partitions:
        if result.args[1] != victim:
            queue.run(result)
    assert not queue.take()

    real_stage = staging.stage
    batches = 0

    def dies_at_the_sixth_batch(*args: Any) -> None:
        nonlocal batches
        batches += 1
        if batches == 6:
            raise WorkerKilled
        real_stage(*args)

    monkeypatch.setattr(fanout, "stage", dies_at_the_sixth_batch)
    with pytest.raises(WorkerKilled):
        fanout.run_partition(victim)
    monkeypatch.setattr(fanout, "stage", real_stage)
    partition = ScanPartition.objects.get(pk=victim)
    assert (partition.status, partition.attempt, partition.resources_seen) == ("running", 1, 5)
    eu_items = ScanItem.objects.filter(scan=scan, account_id=MAIN, region="eu-west-1").exclude(
        resource_type="s3:bucket"  # staged by the account's global partition
    )
    assert eu_items.count() == 5
    scan.refresh_from_db()
    assert scan.status == "running"

    assert fanout.requeue_unfinished(scan.pk) == 1
    (retry,) = queue.take()
    assert queue.run(retry) == "done, last"
    partition.refresh_from_db()
    assert (partition.status, partition.attempt, partition.resources_seen) == ("done", 2, 13)
    assert eu_items.count() == 13
    assert queue.drain() == ["finalise_scan_task"]
    fanned_out = figures(scan)
    assert fanned_out["scan"]["status"] == "complete"
    assert fanned_out["scan"]["resources_seen"] == estate
    scan.refresh_from_db()
    assert (scan.progress_done, scan.progress_total) == (JOBS, JOBS)
    assert figures(one_process_scan()) == fanned_out


def test_an_attempt_taken_over_by_a_later_one_stops_counting(estate: int, queue: Queue) -> None:
    scan = start_fanned_out()
    queue.run(queue.take()[0])
    victim = _partition_id(scan, OTHER, "us-east-1")
    first = fanout._claim_partition(victim)
    assert first is not None
    assert fanout.run_partition(victim) == "done"  # the retry, while the first still "runs"
    with pytest.raises(fanout._Stopped):
        first.stage([])
    partition = ScanPartition.objects.get(pk=victim)
    assert (partition.attempt, partition.resources_seen) == (2, 13)
    assert ScanItem.objects.filter(scan=scan, account_id=OTHER, region="us-east-1").count() == 13


@pytest.fixture
def access_denied_to_sqs_in_eu_west_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS refuses sqs:ListQueues in eu-west-1, in every account."""
    real_call = botocore.client.BaseClient._make_api_call

    def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if (client.meta.service_model.service_name, client.meta.region_name, operation) == (
            "sqs",
            "eu-west-1",
            "ListQueues",
        ):
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
            raise ClientError(error, operation)
        return real_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


@pytest.mark.usefixtures("access_denied_to_sqs_in_eu_west_1")
def test_access_denied_in_one_region_makes_the_scan_partial_with_the_reason(
    estate: int, queue: Queue
) -> None:
    scan = start_fanned_out()
    queue.drain()
    fanned_out = figures(scan)
    assert fanned_out["scan"]["status"] == "partial"
    assert fanned_out["scan"]["errors"] == [
        f"{MAIN} eu-west-1 sqs:queue: AccessDenied not authorized",
        f"{OTHER} eu-west-1 sqs:queue: AccessDenied not authorized",
    ]
    assert fanned_out["scan"]["total_resources"] == estate - 8
    assert figures(one_process_scan()) == fanned_out


def test_a_partition_that_raises_makes_the_scan_partial_not_stuck(
    estate: int, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stage = staging.stage

    def broken_in_sydney(scan: Scan, resources: list[Any]) -> None:
        if any(r.region == "ap-southeast-2" for r in resources):
            raise RuntimeError("disk full")
        real_stage(scan, resources)

    monkeypatch.setattr(fanout, "stage", broken_in_sydney)
    scan = start_fanned_out()
    queue.drain()
    scan.refresh_from_db()
    assert scan.status == "partial"
    assert scan.errors == [f"{MAIN} ap-southeast-2: InternalError partition stopped: RuntimeError"]
    assert scan.total_resources == estate - 13
    assert (scan.progress_done, scan.progress_total) == (JOBS, JOBS)
    assert not Resource.objects.filter(region="ap-southeast-2").exists()
    assert not ScanItem.objects.exists()


def test_an_account_without_regions_is_split_by_its_enabled_regions(
    mocked_aws: None, db: None, queue: Queue
) -> None:
    register_estate()
    do_add_account(account_id=OTHER, name="other", role_arn=OTHER_ROLE, acting=Operator())
    seed_estate()
    enabled = boto3.client("ec2", region_name="us-east-1").describe_regions()["Regions"]

    scan = start_fanned_out(account_ids=[OTHER], resource_types=["sqs:queue"])
    queue.drain()
    assert scan.partitions.count() == len(enabled) > 2
    fanned_out = figures(scan)
    assert fanned_out["scan"]["total_resources"] == 8
    assert figures(one_process_scan(account_ids=[OTHER], resource_types=["sqs:queue"])) == (
        fanned_out
    )


def test_a_scan_of_one_partition_runs_in_its_start_task(estate: int, queue: Queue) -> None:
    scan = start_fanned_out(account_ids=[MAIN], regions=["eu-west-1"], resource_types=["sqs:queue"])
    assert queue.drain() == ["start_scan_task"]
    scan.refresh_from_db()
    assert (scan.status, scan.total_resources) == ("complete", 4)
    assert not scan.partitions.exists()


def test_without_fan_out_a_started_scan_is_one_task(
    estate: int, queue: Queue, settings: Any
) -> None:
    settings.SCAN_FANOUT = False
    scan = start_fanned_out()
    assert queue.drain() == ["run_scan_task"]
    scan.refresh_from_db()
    assert (scan.status, scan.total_resources) == ("complete", estate)
    assert not scan.partitions.exists()


# --- real task workers --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker(name: str, database_url: str, *extra: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "finops_site.settings",
    }
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
    return subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [*command, "--interval", "0.05", "--worker-id", name, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_until_started(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        if "Starting worker" in line:
            return
    raise AssertionError(f"worker exited with {worker.wait()} before starting")


@pytest.fixture
def fake_aws_server() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_db_workers_share_a_scan_and_finish_it_exactly(fake_aws_server: str) -> None:
    register_estate()
    size = seed_estate()
    if connection.vendor == "postgresql":
        workers = [_worker(f"worker-{n}", _database_url()) for n in (1, 2)]
        try:
            for worker in workers:
                _wait_until_started(worker)
            scan = start_fanned_out()
            deadline = time.monotonic() + 180
            while Scan.objects.get(pk=scan.pk).status in ("queued", "running"):
                assert time.monotonic() < deadline, "the scan did not finish in time"
                time.sleep(0.2)
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
        pids = {worker.pid for worker in workers}
    else:
        # The test database is in memory, out of a worker's reach: the worker gets a copy in a
        # file, runs every task there, and the result is copied back.
        scan = start_fanned_out()
        copy = Path(os.environ.get("TMPDIR", "/tmp")) / f"fanout-{os.getpid()}.sqlite3"
        connection.ensure_connection()
        live = connection.connection
        file_db = sqlite3.connect(copy)
        try:
            live.backup(file_db)
            worker = _worker("worker-1", f"sqlite:///{copy}", "--batch")
            output, _ = worker.communicate(timeout=300)
            assert worker.returncode == 0, output
            file_db.backup(live)
        finally:
            file_db.close()
            copy.unlink(missing_ok=True)
        pids = {worker.pid}

    fanned_out = figures(scan)
    assert fanned_out["scan"]["status"] == "complete"
    assert fanned_out["scan"]["total_resources"] == size
    ran_by = {int(w.rsplit(":", 1)[1]) for w in scan.partitions.values_list("worker", flat=True)}
    assert ran_by == pids
    assert scan.partitions.filter(status="done", attempt=1).count() == PARTITIONS
    assert figures(one_process_scan()) == fanned_out


def test_the_admin_shows_a_scans_partitions_and_changes_none(admin_client: Client) -> None:
    scan = Scan.objects.create(status=Scan.Status.RUNNING)
    partition = ScanPartition.objects.create(
        scan=scan,
        account_id="123456789012",
        region="eu-west-1",
        status=ScanPartition.Status.RUNNING,
        jobs=8,
        jobs_done=3,
        resources_seen=41,
        attempt=2,
        worker="worker-7@host-a",
    )
    page = admin_client.get(f"/admin/compliance/scan/{scan.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    for shown in ("eu-west-1", "worker-7@host-a", "41"):
        assert shown in text, shown
    assert "partitions-0-region" not in text  # shown, not a form field
    admin_client.post(
        f"/admin/compliance/scan/{scan.pk}/change/",
        {
            "partitions-TOTAL_FORMS": "1",
            "partitions-INITIAL_FORMS": "1",
            "partitions-0-id": str(partition.pk),
            "partitions-0-region": "us-east-1",
        },
    )
    partition.refresh_from_db()
    assert (partition.region, partition.jobs_done) == ("eu-west-1", 3)
