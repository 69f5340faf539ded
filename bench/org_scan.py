"""Organisation scan across task workers: the same scan with 1, 2 and 4 ``db_worker`` processes.

An organisation of ACCOUNTS accounts x 3 regions lives in moto's threaded server, run in this
process, with every AWS call delayed by ``--latency-ms`` (50 ms by default) before moto answers
it, as a real endpoint far away would be. Queues, topics and log groups are seeded straight into
moto's backends (no HTTP; seeding is not what is measured). Listing them takes one list call per
page and one tagging API call per 100 resources; the table gives AWS calls per resource. Each
account is reached by assuming a role in it, as in an organisation.

For each worker count: the resource tables are emptied (every run is a first scan), N
``manage.py db_worker`` processes start, a scan is started as the dashboard starts one
(``do_start_scan``: fanned out, one task per account x region), and the time from the start to
the scan's end is taken, and when the last partition finished (collect); the rest is the start
task's pick-up, the finalisation and the polling here.

PostgreSQL only; the database is dropped and created again at the start:
  python -m bench.org_scan --database bench_org                       # 50 x 3, ~100k resources
  python -m bench.org_scan --database bench_org --accounts 10 --per-type 60 --workers 1,2,4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
TYPES = ["logs:log-group", "sns:topic", "sqs:queue"]
FIRST_ACCOUNT = 300000000000


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="bench_org")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--per-type", type=int, default=223, help="resources per type per region")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    return parser.parse_args()


def _recreate_database(name: str, host: str) -> None:
    for command in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([*command, "-h", host, "-U", "postgres", name], check=True)


class Latency:
    """WSGI middleware: every request waits ``seconds`` before moto sees it."""

    def __init__(self, app: Callable[..., Any], seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            self.calls += 1
        time.sleep(self.seconds)
        return self.app(environ, start_response)


def start_fake_aws(latency_seconds: float) -> tuple[str, Latency]:
    """moto's threaded server (as ``compliance.demo.fake_aws.moto_server`` runs it), behind the
    latency; the AWS environment of this process and its children points at it."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from compliance.demo.fake_aws import FAKE_ENVIRONMENT

    latency = Latency(DomainDispatcherApplication(create_backend_app), latency_seconds)
    server = make_server("127.0.0.1", 0, latency, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    os.environ.update(FAKE_ENVIRONMENT)
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host!s}:{port}"
    return os.environ["AWS_ENDPOINT_URL"], latency


def accounts(count: int) -> list[str]:
    return [str(FIRST_ACCOUNT + n) for n in range(count)]


def seed(account_ids: Iterable[str], per_type: int) -> int:
    """Queues, topics and log groups in every account and region, about a third of them
    compliant with the sample policy, the rest missing or misspelling a required tag."""
    from moto.logs.models import logs_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends

    profiles = [
        {"Owner": "ann@example.com", "CostCenter": "CC-1001", "Environment": "production"},
        {"Owner": "ann@example.com", "Environment": "production"},
        {"owner": "ann@example.com", "CostCenter": "CC-1001", "Environment": "prod"},
        {},
    ]
    count = 0
    for account in account_ids:
        for region in REGIONS:
            sqs, sns = sqs_backends[account][region], sns_backends[account][region]
            logs = logs_backends[account][region]
            for n in range(per_type):
                tags = profiles[n % len(profiles)]
                sqs.create_queue(f"queue-{n}", tags=dict(tags))
                sns.create_topic(f"topic-{n}", tags=dict(tags))
                logs.create_log_group(f"/app/group-{n}", dict(tags))
                count += 3
    return count


def _worker(name: str) -> subprocess.Popen[str]:
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
    return subprocess.Popen(
        [*command, "--interval", "0.1", "--worker-id", name],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _started(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    for line in worker.stdout:
        if "Starting worker" in line:
            # Keep reading its output, so a full pipe never blocks the worker.
            threading.Thread(target=worker.stdout.read, daemon=True).start()
            return
    raise RuntimeError(f"worker exited with {worker.wait()}")


def _empty_inventory() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE compliance_violation, compliance_tagchange, compliance_resource CASCADE"
        )


def run(workers: int, latency: Latency) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db.models import Max

    from compliance.models import Scan
    from compliance.permissions.accounts import Operator
    from compliance.writes.scans import do_start_scan

    # Other work may have added a migration since the last run: the workers load today's code.
    call_command("migrate", verbosity=0)
    _empty_inventory()
    processes = [_worker(f"bench-{workers}-{n}") for n in range(workers)]
    try:
        for process in processes:
            _started(process)
        calls_before = latency.calls
        started = time.perf_counter()
        scan = do_start_scan(acting=Operator(), resource_types=TYPES)
        while Scan.objects.get(pk=scan.pk).status in (Scan.Status.QUEUED, Scan.Status.RUNNING):
            time.sleep(0.25)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    scan.refresh_from_db()
    partitions = scan.partitions.all()
    last_partition = partitions.aggregate(last=Max("finished_at"))["last"]
    assert scan.started_at
    assert scan.finished_at
    assert last_partition
    by_worker: dict[str, int] = {}
    for worker in partitions.values_list("worker", flat=True):
        by_worker[worker] = by_worker.get(worker, 0) + 1
    return {
        "workers": workers,
        "status": scan.status,
        "seconds": round(seconds, 1),
        "collect_seconds": round((last_partition - scan.started_at).total_seconds(), 1),
        # Queue pick-up of the start task, the finalisation, and this loop's polling.
        "rest_seconds": round(seconds - (last_partition - scan.started_at).total_seconds(), 1),
        "resources": scan.total_resources,
        "violations": scan.violation_count,
        "partitions": partitions.count(),
        "partitions_per_worker": sorted(by_worker.values()),
        "aws_calls": latency.calls - calls_before,
        # What the scan itself counted (the start task's region discovery aside).
        "scan_requests": scan.aws_requests,
        "throttled": scan.throttled_requests,
        "calls_per_resource": round(
            (latency.calls - calls_before) / max(scan.total_resources or 0, 1), 4
        ),
        "errors": scan.errors[:5],
    }


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    options = _arguments()
    _recreate_database(options.database, options.host)
    os.environ["DATABASE_URL"] = f"postgres://postgres@{options.host}:5432/{options.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
    os.environ["SCAN_FANOUT"] = "1"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from compliance.permissions.accounts import Operator
    from compliance.writes.accounts import do_add_account
    from compliance.writes.policy import do_import_policy

    call_command("migrate", verbosity=0)
    endpoint, latency = start_fake_aws(0.0)
    started = time.perf_counter()
    ids = accounts(options.accounts)
    total = seed(ids, options.per_type)
    print(
        f"seeded {total} resources in {len(ids)} accounts x {len(REGIONS)} regions "
        f"in {time.perf_counter() - started:.0f} s at {endpoint}",
        flush=True,
    )
    operator = Operator()
    for account in ids:
        do_add_account(
            account_id=account,
            name=f"member {account}",
            role_arn=f"arn:aws:iam::{account}:role/TagComplianceReader",
            regions=list(REGIONS),
            acting=operator,
        )
    policy = ROOT / "compliance" / "sample_data" / "sample_policy.yaml"
    do_import_policy(policy.read_text(encoding="utf-8"), acting=operator)
    latency.seconds = options.latency_ms / 1000

    results = []
    for workers in (int(n) for n in options.workers.split(",")):
        before = _uptime()
        result = run(workers, latency)
        result["uptime_before"], result["uptime_after"] = before, _uptime()
        results.append(result)
        print(json.dumps(result), flush=True)
    base = results[0]["seconds"]
    print("\n| db_worker processes | scan | collect | rest | speed-up | calls | calls/resource |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['workers']} | {r['seconds']} s | {r['collect_seconds']} s | "
            f"{r['rest_seconds']} s | {base / r['seconds']:.2f}x | {r['aws_calls']} | "
            f"{r['calls_per_resource']} |"
        )


if __name__ == "__main__":
    main()
