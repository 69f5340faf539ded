"""Scans under faults: throttling beyond retries, access denied, an endpoint that never answers,
a refused role, a worker killed mid-scan, the database lost mid-scan.

In every case the last finished scan stays what readers see, with the same figures; no
resource is duplicated or marked gone for what could not be read; the scan record says what
failed (status, per-job outcome with error code and message, errors); and no scan is left
"running". Faults are injected with botocore event hooks on real clients talking to moto, with
real sockets, real processes and real signals; nothing of AWS is written by hand.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import psycopg
import pytest
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.management import call_command
from django.db import Error, connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from compliance import reads
from compliance.aws import collect_inventory
from compliance.aws import session as aws_session
from compliance.aws.base import AccountTarget, JobOutcome
from compliance.aws.collectors import RESOURCE_TYPES
from compliance.demo.fake_aws import FAKE_ENVIRONMENT, UNSERVED_TYPES, moto_server
from compliance.models import AuditEvent, Resource, Scan, ScanItem, ScanPartition
from compliance.permissions.accounts import Operator
from compliance.scans import ScanNotRunnable, execute_scan
from compliance.scans.watchdog import MAX_PARTITION_ATTEMPTS, StaleScans, fail_stale_scans
from compliance.tasks import run_scan_task
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan, do_start_scan
from tests.compliance.policies import TEST_POLICY

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/FinopsReader"
REGIONS = ["eu-west-1", "us-east-1"]
TYPES = ["dynamodb:table", "sqs:queue"]
GOOD = {"Owner": "ann@example.com", "Environment": "production"}
BAD = {"Owner": "Bob", "Environment": "prod"}

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the connection is lost on PostgreSQL only"
)

# --- A small estate in two accounts, and what a reader sees of it ----------------------------


def clients_in(account: str) -> Callable[[str, str], Any]:
    """Clients with credentials of ``account``: moto files what they create there."""
    if account == ACCOUNT:
        return lambda service, region: boto3.client(service, region_name=region)
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return lambda service, region: boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def make_queue(account: str, region: str, name: str, tags: dict[str, str]) -> str:
    clients_in(account)("sqs", region).create_queue(QueueName=name, tags=tags)
    return f"arn:aws:sqs:{region}:{account}:{name}"


def make_table(account: str, region: str, name: str, tags: dict[str, str]) -> str:
    clients_in(account)("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def make_estate() -> list[str]:
    """Six resources, two of them compliant; returns their ARNs, sorted."""
    return sorted(
        [
            make_queue(ACCOUNT, "us-east-1", "orders", GOOD),
            make_table(ACCOUNT, "us-east-1", "ledger", BAD),
            make_queue(ACCOUNT, "eu-west-1", "billing", {}),
            make_table(ACCOUNT, "eu-west-1", "events", GOOD),
            make_queue(OTHER, "us-east-1", "other-orders", BAD),
            make_table(OTHER, "eu-west-1", "other-events", {}),
        ]
    )


def register_accounts(*, with_other: bool = True) -> None:
    operator = Operator()
    do_add_account(account_id=ACCOUNT, name="prod", regions=REGIONS, acting=operator)
    if with_other:
        do_add_account(
            account_id=OTHER, name="other", role_arn=ROLE, regions=REGIONS, acting=operator
        )
    do_import_policy(TEST_POLICY, acting=operator)


def scan_now() -> Scan:
    return execute_scan(do_request_scan(acting=Operator(), resource_types=TYPES).pk)


@dataclass(frozen=True)
class Seen:
    """What a reader sees: the figures every answer gives, and the present resources."""

    scan: Scan | None
    figures: tuple[Any, ...]
    present: list[str]
    rows: int

    @classmethod
    def now(cls) -> Seen:
        summary = reads.compliance_summary(Operator())
        figures = (
            summary.total_resources,
            summary.in_scope_resources,
            summary.compliant_resources,
            summary.violation_count,
            sorted(
                (b.key, b.total_resources, b.compliant_resources, b.violations)
                for b in summary.by_account
            ),
        )
        present = Resource.objects.filter(gone_since__isnull=True).values_list("arn", flat=True)
        return cls(reads.latest_scan(), figures, sorted(present), Resource.objects.count())


def failed_jobs(scan: Scan) -> dict[tuple[str, str, str], str]:
    """(account, region, type) -> error code, for every job of the scan that failed."""
    return {
        (o["account_id"], o["region"], o["resource_type"]): o["error_code"]
        for o in scan.outcomes
        if o["status"] != "ok"
    }


def assert_contained(scan: Scan, before: Seen, failed: dict[tuple[str, str, str], str]) -> None:
    """The fault is explained in the scan, and changed nothing a reader sees."""
    scan.refresh_from_db()
    assert failed_jobs(scan) == failed
    for outcome in scan.outcomes:
        assert (outcome["status"] == "ok") == (not outcome["error_message"]), outcome
    assert len(scan.errors) == len(failed)
    assert all(any(code in error for code in failed.values()) for error in scan.errors)
    after = Seen.now()
    assert (after.figures, after.present) == (before.figures, before.present)
    assert after.rows == before.rows == len(before.present)  # nothing gone, nothing twice
    assert not ScanItem.objects.exists()
    assert not Scan.objects.filter(status=Scan.Status.RUNNING).exists()


def every_job(accounts: list[str]) -> set[tuple[str, str, str]]:
    return {(a, r, t) for a in accounts for r in REGIONS for t in TYPES}


@pytest.fixture
def estate(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> Seen:
    """Two accounts scanned once, completely: what readers see before the fault."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    register_accounts()
    arns = make_estate()
    first = scan_now()
    assert first.status == Scan.Status.COMPLETE
    seen = Seen.now()
    assert seen.present == arns
    assert seen.figures[:4] == (6, 6, 2, 8)
    return seen


# --- Injected AWS errors -----------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """An error every matching call gets: by account, region and service (None: any).

    STS is never refused: AWS answers GetCallerIdentity whatever the policies say.
    """

    code: str
    account: str | None = None
    region: str | None = None
    service: str | None = None

    def hits(self, account: str, region: str, service: str) -> bool:
        return service != "sts" and all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.account, account),
                (self.region, region),
                (self.service, service),
            )
        )


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Callable[[Fault], None]:
    """Register a before-call hook on the session of every account a scan reaches.

    A ClientError raised there is what a collector sees once botocore has given up retrying.
    """
    faults: list[Fault] = []
    original = aws_session.new_session

    def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
        session = original(target, **kwargs)

        def refuse(model: Any, context: dict[str, Any], **_: Any) -> None:
            service, region = model.service_model.service_name, context["client_region"]
            for fault in faults:
                if fault.hits(target.account_id, region, service):
                    error = {"Error": {"Code": fault.code, "Message": f"{fault.code} (injected)"}}
                    raise ClientError(error, model.name)

        session.events.register("before-call", refuse)
        return session

    monkeypatch.setattr(aws_session, "new_session", new_session)
    return faults.append


@pytest.mark.django_db
def test_throttling_beyond_retries_fails_one_service_in_one_region(
    estate: Seen, inject: Callable[[Fault], None]
) -> None:
    inject(Fault("ThrottlingException", region="eu-west-1", service="dynamodb"))
    scan = scan_now()
    assert (scan.status, scan.data_quality) == ("partial", "partial")
    assert len(scan.outcomes) == len(every_job([ACCOUNT, OTHER])) == 8
    assert_contained(
        scan,
        estate,
        {
            (ACCOUNT, "eu-west-1", "dynamodb:table"): "ThrottlingException",
            (OTHER, "eu-west-1", "dynamodb:table"): "ThrottlingException",
        },
    )
    assert reads.latest_scan() == scan
    finished = AuditEvent.objects.get(event_type="scan.finished", target=f"scan #{scan.pk}")
    assert (finished.detail["status"], finished.detail["failed_jobs"]) == ("partial", 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fault", "failed"),
    [
        (Fault("AccessDenied", account=OTHER), every_job([OTHER])),
        (
            Fault("AccessDenied", region="eu-west-1"),
            {job for job in every_job([ACCOUNT, OTHER]) if job[1] == "eu-west-1"},
        ),
        (
            Fault("AccessDeniedException", service="sqs"),
            {job for job in every_job([ACCOUNT, OTHER]) if job[2] == "sqs:queue"},
        ),
    ],
    ids=["one-account", "one-region", "one-service"],
)
def test_access_denied_is_contained_to_what_it_denies(
    estate: Seen,
    inject: Callable[[Fault], None],
    fault: Fault,
    failed: set[tuple[str, str, str]],
) -> None:
    inject(fault)
    scan = scan_now()
    assert (scan.status, scan.data_quality) == ("partial", "partial")
    assert len(scan.outcomes) == 8
    assert_contained(scan, estate, dict.fromkeys(failed, fault.code))
    assert all(fault.code in error for error in scan.errors)


@pytest.mark.django_db
def test_access_denied_everywhere_fails_the_scan_and_keeps_the_last_one(
    estate: Seen, inject: Callable[[Fault], None]
) -> None:
    inject(Fault("AccessDenied"))
    scan = scan_now()
    assert (scan.status, scan.data_quality) == ("failed", None)
    assert_contained(scan, estate, dict.fromkeys(every_job([ACCOUNT, OTHER]), "AccessDenied"))
    assert reads.latest_scan() == estate.scan
    assert (
        AuditEvent.objects.filter(event_type="scan.failed", target=f"scan #{scan.pk}").count() == 1
    )


@pytest.mark.django_db
def test_a_refused_role_fails_its_account_and_keeps_its_resources(
    estate: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = aws_session.new_session

    def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
        base = boto3.session.Session()

        def refuse(model: Any, **_: Any) -> None:
            error = {"Error": {"Code": "AccessDenied", "Message": "not authorized (injected)"}}
            raise ClientError(error, model.name)

        if target.role_arn == ROLE:
            base.events.register("before-call.sts.AssumeRole", refuse)
        return original(target, base=base)

    monkeypatch.setattr(aws_session, "new_session", new_session)
    scan = scan_now()
    assert (scan.status, scan.data_quality) == ("partial", "partial")
    # One account-level outcome for the refused account; every job of the other one ran.
    assert len(scan.outcomes) == 1 + 4
    assert_contained(scan, estate, {(OTHER, "*", "*"): "AccessDenied"})
    assert scan.errors == [f"{OTHER}: AccessDenied not authorized (injected)"]
    other = Resource.objects.filter(account__account_id=OTHER, gone_since__isnull=True)
    assert other.count() == 2


# --- An endpoint that never answers, and bounded clients ----------------------------------


@contextmanager
def silent_endpoint(*, accepts: bool) -> Iterator[str]:
    """A local TCP endpoint that never answers.

    ``accepts``: connections are made (the kernel accepts them) and nothing is ever sent back.
    Otherwise the backlog is full (one pending connection fills a backlog of 0), so new
    connections are never made.
    """
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16 if accepts else 0)
    host, port = server.getsockname()
    fillers = []
    if not accepts:
        filler = socket.create_connection((host, port), timeout=1)
        fillers.append(filler)
    try:
        yield f"http://{host}:{port}"
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CLIENT_CONNECT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("AWS_CLIENT_READ_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accepts", "code"), [(True, "ReadTimeoutError"), (False, "ConnectTimeoutError")]
)
def test_an_endpoint_that_never_answers_fails_its_service_and_the_scan_finishes(
    estate: Seen,
    short_timeouts: None,
    monkeypatch: pytest.MonkeyPatch,
    accepts: bool,
    code: str,
) -> None:
    with silent_endpoint(accepts=accepts) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", url)
        started = time.monotonic()
        scan = scan_now()
        elapsed = time.monotonic() - started
    # Two attempts of at most 1 s each and one back-off (at most 1 s) per job, jobs in parallel.
    assert elapsed < 10
    assert (scan.status, scan.data_quality) == ("partial", "partial")
    failed = {job for job in every_job([ACCOUNT, OTHER]) if job[2] == "sqs:queue"}
    assert_contained(scan, estate, dict.fromkeys(failed, code))
    messages = {o["error_message"] for o in scan.outcomes if o["status"] != "ok"}
    assert all(url in message for message in messages), messages


def test_every_client_a_scan_makes_has_the_configured_bounds(
    mocked_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector that made its own client would wait without our bounds: none does."""
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("AWS_CLIENT_CONNECT_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("AWS_CLIENT_READ_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    made: list[tuple[str, Any]] = []
    create_client = botocore.client.ClientCreator.create_client

    def spy(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.append((service_name, kwargs.get("client_config")))
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.client.ClientCreator, "create_client", spy)
    targets = [AccountTarget(ACCOUNT, role_arn=f"arn:aws:iam::{ACCOUNT}:role/Reader")]
    events = list(collect_inventory(targets, regions=["us-east-1"]))
    outcomes = [e for e in events if isinstance(e, JobOutcome)]
    # Every collector ran to its end, so every client it needed was made (moto answers the
    # three it does not serve with an error, after the client was made).
    assert sorted(o.resource_type for o in outcomes) == sorted(RESOURCE_TYPES)
    ok = sorted(o.resource_type for o in outcomes if o.status == "ok")
    assert ok == sorted(set(RESOURCE_TYPES) - UNSERVED_TYPES)
    services = {service for service, _ in made}
    assert {"sts", "ec2", "s3", "sqs", "dynamodb", "lambda", "rds", "elbv2"} <= services
    bounds = {
        (c.connect_timeout, c.read_timeout, c.retries["total_max_attempts"], c.retries["mode"])
        if c is not None
        else None
        for _, c in made
    }
    assert bounds == {(3.0, 7.5, 4, "adaptive")}


def test_client_bounds_default_when_the_environment_says_nothing() -> None:
    config = aws_session.client_config()
    assert (config.connect_timeout, config.read_timeout, config.retries["max_attempts"]) == (
        10,
        60,
        10,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AWS_CLIENT_READ_TIMEOUT_SECONDS", "0", "AWS_CLIENT_READ_TIMEOUT_SECONDS: expected"),
        ("AWS_CLIENT_READ_TIMEOUT_SECONDS", "forever", "AWS_CLIENT_READ_TIMEOUT_SECONDS: exp"),
        ("AWS_CLIENT_CONNECT_TIMEOUT_SECONDS", "301", "AWS_CLIENT_CONNECT_TIMEOUT_SECONDS: e"),
        ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS: expected a whole number from 1 to 20"),
        ("AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS: expected a whole number from 1 to 20"),
    ],
)
def test_an_unbounded_or_malformed_client_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        aws_session.client_config()


# --- The watchdog --------------------------------------------------------------------------


def running_scan(started_minutes_ago: float | None, status: str = Scan.Status.RUNNING) -> Scan:
    scan = do_request_scan(acting=Operator(), resource_types=TYPES)
    started = (
        None
        if started_minutes_ago is None
        else timezone.now() - timedelta(minutes=started_minutes_ago)
    )
    Scan.objects.filter(pk=scan.pk).update(status=status, started_at=started)
    scan.refresh_from_db()
    return scan


@pytest.mark.django_db
@override_settings(SCAN_STALE_AFTER_SECONDS=3600)
def test_the_watchdog_fails_only_running_scans_silent_for_longer_than_the_limit() -> None:
    register_accounts(with_other=False)
    lost = running_scan(61)
    alive = running_scan(59)
    queued = running_scan(None, Scan.Status.QUEUED)
    Scan.objects.filter(pk=queued.pk).update(created_at=timezone.now() - timedelta(hours=5))
    complete = running_scan(120, Scan.Status.COMPLETE)
    now = timezone.now()

    assert fail_stale_scans(now) == StaleScans(failed=[lost.pk], retried=[])
    statuses = dict(Scan.objects.values_list("pk", "status"))
    assert statuses == {
        lost.pk: "failed",
        alive.pk: "running",
        queued.pk: "queued",
        complete.pk: "complete",
    }
    lost.refresh_from_db()
    assert lost.finished_at == now
    assert lost.data_quality is None
    (error,) = lost.errors
    assert error.startswith("scan stopped: no sign of life for more than 3600 s (since ")
    assert error.endswith("the worker running it was lost")
    event = AuditEvent.objects.get(event_type="scan.failed")
    assert (event.target, event.outcome, event.actor_label) == (
        f"scan #{lost.pk}",
        "error",
        "system",
    )
    assert (event.detail["reason"], event.detail["stale_after"]) == ("stale", 3600)
    # Run again (cron, another worker): nothing more to do, nothing audited twice.
    assert fail_stale_scans(now) == StaleScans()
    assert AuditEvent.objects.filter(event_type="scan.failed").count() == 1


@pytest.mark.django_db
@override_settings(SCAN_STALE_AFTER_SECONDS=600)
def test_fail_stale_scans_command_says_what_it_failed() -> None:
    register_accounts(with_other=False)
    lost = running_scan(11)
    running_scan(9)
    out = io.StringIO()
    call_command("fail_stale_scans", stdout=out)
    assert out.getvalue().splitlines() == [
        f"scan #{lost.pk}: marked failed (no sign of life)",
        "1 stale scan(s) marked failed, 0 queued again (stale after 600 s)",
    ]
    assert Scan.objects.filter(status=Scan.Status.RUNNING).count() == 1


@pytest.mark.django_db
@override_settings(SCAN_STALE_AFTER_SECONDS=600)
def test_a_silent_fanned_out_scan_is_queued_again_then_failed_when_lost_too_often() -> None:
    register_accounts(with_other=False)
    scan = running_scan(30)
    long_ago = timezone.now() - timedelta(minutes=20)
    _done, lost = ScanPartition.objects.bulk_create(
        [
            ScanPartition(
                scan=scan,
                account_id=ACCOUNT,
                region="eu-west-1",
                status="done",
                attempt=1,
                jobs=2,
                started_at=long_ago,
                finished_at=long_ago,
            ),
            ScanPartition(
                scan=scan,
                account_id=ACCOUNT,
                region="us-east-1",
                status="running",
                attempt=1,
                jobs=2,
                started_at=long_ago,
            ),
        ]
    )
    assert fail_stale_scans() == StaleScans(retried=[scan.pk])
    lost.refresh_from_db()
    task = DBTaskResult.objects.get(pk=lost.task_id)
    assert (task.status, task.args_kwargs["args"]) == ("READY", [scan.pk, lost.pk])
    assert task.task_path == "compliance.scans.tasks.run_partition_task"
    # Queued again is a sign of life: the next pass leaves it to its new task.
    assert fail_stale_scans() == StaleScans()
    assert DBTaskResult.objects.count() == 1
    # Lost on every attempt: failed, saying where.
    ScanPartition.objects.filter(pk=lost.pk).update(attempt=MAX_PARTITION_ATTEMPTS)
    later = timezone.now() + timedelta(minutes=11)
    assert fail_stale_scans(later) == StaleScans(failed=[scan.pk])
    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert scan.errors[-1].endswith(f"was lost 3 times running {ACCOUNT} us-east-1")
    assert DBTaskResult.objects.count() == 1


# --- A worker killed mid-scan -------------------------------------------------------------


class SharedDatabase:
    """The test database, reachable by a child process.

    PostgreSQL: the child connects to the test database itself. SQLite: the test database lives
    in this process's memory, so it is copied to a file for the child and copied back after.
    """

    def __init__(self, workdir: Path) -> None:
        self.settings = connection.settings_dict
        self.file = workdir / "shared.sqlite3"

    @property
    def url(self) -> str:
        if connection.vendor == "postgresql":
            s = self.settings
            return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"
        return f"sqlite:///{self.file}"

    def hand_over(self) -> None:
        if connection.vendor == "sqlite":
            connection.ensure_connection()
            with sqlite3.connect(self.file) as target:
                connection.connection.backup(target)

    def take_back(self) -> None:
        if connection.vendor == "sqlite":
            with sqlite3.connect(self.file) as source:
                source.backup(connection.connection)

    def scan_state(self, scan_id: int) -> tuple[str, int, int]:
        """(status, jobs done, resources seen), as the child has committed them."""
        query = "SELECT status, progress_done, resources_seen FROM compliance_scan WHERE id = %s"
        if connection.vendor == "sqlite":
            with sqlite3.connect(self.file, timeout=10) as db:
                row = db.execute(query.replace("%s", "?"), (scan_id,)).fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute(query, [scan_id])
                row = cursor.fetchone()
        return str(row[0]), int(row[1]), int(row[2])


def child_environment(database: SharedDatabase, workdir: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        **FAKE_ENVIRONMENT,
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "DJANGO_SETTINGS_MODULE": "finops_site.settings",
        "DJANGO_SECRET_KEY": "fault-tests-" + "x" * 40,
        "DATA_DIR": str(workdir),
        "DATABASE_URL": database.url,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def db_worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--no-reload"]
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (a fixed command)
            [*command, "--interval", "0.2", *extra],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until(done: Callable[[], bool], what: str, log: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s; worker log:\n{log.read_text()[-3000:]}")


@dataclass
class KilledScan:
    scan: Scan
    before: Seen
    database: SharedDatabase
    log: Path
    workdir: Path

    def worker(self, *extra: str, **env: str) -> subprocess.Popen[bytes]:
        return db_worker(child_environment(self.database, self.workdir, **env), self.log, *extra)


@contextmanager
def scan_killed_mid_task(workdir: Path, *, fan_out: bool) -> Iterator[KilledScan]:
    """A scan whose worker was killed with SIGKILL while it waited on AWS; the fake AWS (moto's
    server) stays up for the rest of the test."""
    log = workdir / "worker.log"
    database = SharedDatabase(workdir)
    fan_out_setting = {"SCAN_FANOUT": "1" if fan_out else "0"}
    # moto_server starts from an empty fake AWS (moto keeps its state per process).
    with moto_server(), override_settings(SCAN_FANOUT=fan_out):
        register_accounts(with_other=False)
        make_queue(ACCOUNT, "us-east-1", "orders", GOOD)
        make_queue(ACCOUNT, "eu-west-1", "billing", {})
        make_table(ACCOUNT, "us-east-1", "ledger", BAD)
        assert scan_now().status == Scan.Status.COMPLETE
        before = Seen.now()
        assert before.figures[:4] == (3, 3, 1, 4)

        # The queued scan's DynamoDB calls hang (the endpoint never answers, and the worker
        # waits the default 60 s per call): the worker is killed while it waits. Fanned out,
        # the one worker is in its first partition (eu-west-1, one queue); in one process, it
        # has read both regions' queues.
        scan = do_start_scan(acting=Operator(), resource_types=TYPES)
        database.hand_over()
        killed = KilledScan(scan, before, database, log, workdir)
        with silent_endpoint(accepts=True) as hanging:
            worker = killed.worker(AWS_ENDPOINT_URL_DYNAMODB=hanging, **fan_out_setting)
            seen = 1 if fan_out else 2
            try:
                wait_until(
                    lambda: database.scan_state(scan.pk) == ("running", seen, seen),
                    "the scan staged its queues and waited on DynamoDB",
                    log,
                )
                time.sleep(0.3)  # blocked on a socket read, as in a slow call
                worker.send_signal(signal.SIGKILL)
            finally:
                worker.kill()
                assert worker.wait(timeout=10) == -signal.SIGKILL
        database.take_back()

        # Killed: the row still says running, readers still see the first scan only.
        scan.refresh_from_db()
        assert scan.status == Scan.Status.RUNNING
        assert ScanItem.objects.filter(scan=scan).count() == seen
        assert Seen.now() == before
        # Not yet stale: a scan that may still be alive is left alone.
        assert fail_stale_scans() == StaleScans(failed=[], retried=[])
        yield killed


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_scan_whose_worker_was_killed_is_failed_by_the_next_scan_task(tmp_path: Path) -> None:
    with scan_killed_mid_task(tmp_path, fan_out=False) as killed:
        scan, before = killed.scan, killed.before
        # The next scan task, on a fresh worker, fails it first, then runs its own scan.
        Scan.objects.filter(pk=scan.pk).update(started_at=timezone.now() - timedelta(seconds=2))
        with override_settings(SCAN_FANOUT=False):
            following = do_start_scan(acting=Operator(), resource_types=TYPES)
        killed.database.hand_over()
        worker = killed.worker("--batch", SCAN_FANOUT="0", SCAN_STALE_AFTER_SECONDS="1")
        assert worker.wait(timeout=30) == 0, killed.log.read_text()[-3000:]
        killed.database.take_back()

    scan.refresh_from_db()
    assert (scan.status, scan.data_quality) == ("failed", None)
    (error,) = scan.errors
    assert "no sign of life for more than 1 s" in error
    assert (
        AuditEvent.objects.filter(event_type="scan.failed", target=f"scan #{scan.pk}").count() == 1
    )
    # The task row of the killed worker says running for ever: only the scan row is ours.
    assert DBTaskResult.objects.get(pk=scan.task_id).status == "RUNNING"
    following.refresh_from_db()
    assert following.status == Scan.Status.COMPLETE
    after = Seen.now()
    assert (after.scan, after.figures, after.present) == (following, before.figures, before.present)
    assert after.rows == 3

    # Running the killed scan's task again is refused: it is no longer queued.
    with pytest.raises(ScanNotRunnable):
        run_scan_task.call(scan.pk)
    assert Resource.objects.count() == 3
    assert not Scan.objects.filter(status=Scan.Status.RUNNING).exists()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_fanned_out_scan_whose_worker_was_killed_is_retried_to_the_end(tmp_path: Path) -> None:
    with scan_killed_mid_task(tmp_path, fan_out=True) as killed:
        scan, before = killed.scan, killed.before
        lost = ScanPartition.objects.get(scan=scan, status=ScanPartition.Status.RUNNING)
        assert (lost.region, lost.attempt) == ("eu-west-1", 1)
        later = timezone.now() + timedelta(seconds=settings.SCAN_STALE_AFTER_SECONDS + 1)
        assert fail_stale_scans(later) == StaleScans(failed=[], retried=[scan.pk])
        killed.database.hand_over()
        worker = killed.worker("--batch", SCAN_FANOUT="1")
        assert worker.wait(timeout=30) == 0, killed.log.read_text()[-3000:]
        killed.database.take_back()

    scan.refresh_from_db()
    assert (scan.status, scan.data_quality, scan.errors) == ("complete", "complete", [])
    lost.refresh_from_db()
    assert (lost.status, lost.attempt) == ("done", 2)
    # Every job counted once, though the lost attempt had counted one of them already.
    assert (scan.progress_done, scan.progress_total, scan.resources_seen) == (4, 4, 3)
    after = Seen.now()
    assert (after.scan, after.figures, after.present, after.rows) == (
        scan,
        before.figures,
        before.present,
        3,
    )
    assert not ScanItem.objects.exists()
    assert not Scan.objects.filter(status=Scan.Status.RUNNING).exists()


# --- The database lost mid-scan (PostgreSQL) ------------------------------------------------


#: Loses the scanning connection, given its server process id and how to connect.
Loss = Callable[[int, dict[str, Any]], None]


def terminate_connection(pid: int, database: dict[str, Any]) -> None:
    """End one server process from outside, as a fail-over or an administrator would."""
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        dbname=database["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def restart_server(_pid: int, database: dict[str, Any]) -> None:
    """Restart the local cluster serving the test database (found by its port), as an upgrade
    or a fail-over would: every connection is dropped, committed data stays."""
    port = str(database["PORT"] or 5432)
    clusters = subprocess.run(
        ["pg_lsclusters", "--no-header"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    version, name = next(line.split()[:2] for line in clusters if line.split()[2] == port)
    subprocess.run(  # noqa: S603 (a fixed command)
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],  # noqa: S607
        check=True,
        timeout=60,
    )


RESTART_ALLOWED = os.environ.get("FAULT_TESTS_RESTART_POSTGRES") == "1"
LOSSES = [
    pytest.param(terminate_connection, id="connection-terminated"),
    pytest.param(
        restart_server,
        id="server-restarted",
        marks=pytest.mark.skipif(
            not RESTART_ALLOWED,
            reason="restarts the PostgreSQL server for everyone: FAULT_TESTS_RESTART_POSTGRES=1",
        ),
    ),
]


@pytest.fixture
def lose_database_mid_scan(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Loss], None]]:
    """Arm a loss of the scanning connection, done once, when the scan first calls DynamoDB
    (by then SQS results are on their way to the database)."""
    original = aws_session.new_session

    def arm(lose: Loss) -> None:
        database = dict(connection.settings_dict)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        once = threading.Lock()

        def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
            session = original(target, **kwargs)

            def strike(**_: Any) -> None:
                if once.acquire(blocking=False):
                    lose(pid, database)

            session.events.register("before-call.dynamodb", strike)
            return session

        monkeypatch.setattr(aws_session, "new_session", new_session)

    yield arm
    # Whatever happened, the next test gets a connection that works: a terminated backend can
    # leave a connection Django still takes for open (no error recorded on it), so close it;
    # Django opens a new one on next use.
    connection.close()


@postgres_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lose", LOSSES)
def test_a_scan_task_that_loses_the_database_ends_failed_and_changes_nothing(
    estate: Seen,
    lose_database_mid_scan: Callable[[Loss], None],
    lose: Loss,
) -> None:
    scan = do_request_scan(acting=Operator(), resource_types=TYPES)
    lose_database_mid_scan(lose)
    with pytest.raises(Error):
        run_scan_task.call(scan.pk)
    scan.refresh_from_db()
    assert (scan.status, scan.data_quality) == ("failed", None)
    assert scan.errors[-1].startswith("scan stopped: ")
    assert scan.errors[-1].removeprefix("scan stopped: ") in {"OperationalError", "InterfaceError"}
    # Recorded once: by the scan itself when Django had already reconnected (a loss noticed
    # inside a transaction closes the connection), else by the task once the database answers.
    failures = AuditEvent.objects.filter(event_type="scan.failed", target=f"scan #{scan.pk}")
    assert failures.count() == 1
    after = Seen.now()
    assert (after.scan, after.figures, after.present, after.rows) == (
        estate.scan,
        estate.figures,
        estate.present,
        estate.rows,
    )
    assert not ScanItem.objects.exists()
    assert not Scan.objects.filter(status=Scan.Status.RUNNING).exists()
