"""Scan ingest rate and peak memory: a synthetic estate through the real scan pipeline.

The AWS side is replaced by a generator of synthetic resources (no AWS latency to measure here);
everything after it is the production code: staging writes, finalisation (upsert, drift, gone
marking, evaluation, violations, snapshots) in one transaction.

Run against PostgreSQL (a separate process per size, so peak RSS is per size):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python -m bench.scan_ingest 100000
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.synthetic import ACCOUNT_ID, estate  # noqa: E402
from compliance import scans  # noqa: E402
from compliance.aws.base import JobOutcome, ResourceBatch, ScanPlan  # noqa: E402
from compliance.models import Resource, Scan, ScanItem  # noqa: E402
from compliance.permissions.accounts import Operator  # noqa: E402
from compliance.writes.accounts import do_add_account  # noqa: E402
from compliance.writes.policy import do_import_policy  # noqa: E402
from compliance.writes.scans import do_request_scan  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "compliance" / "sample_data" / "sample_policy.yaml"


def synthetic_inventory(size: int, batch_size: int) -> Any:
    def collect(targets: Any, **_: Any) -> Iterator[Any]:
        yield ScanPlan(account_id=ACCOUNT_ID, regions=("us-east-1",), jobs=1)
        batch = []
        for item in estate(size):
            batch.append(item)
            if len(batch) == batch_size:
                yield ResourceBatch(batch)
                batch = []
        if batch:
            yield ResourceBatch(batch)
        yield JobOutcome(ACCOUNT_ID, "us-east-1", "ec2:instance", "ok", size)

    return collect


def timed(function: Any, name: str, phases: dict[str, float]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = time.perf_counter() - started

    return wrapper


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    call_command("migrate", verbosity=0)
    operator = Operator()
    do_add_account(account_id=ACCOUNT_ID, name="bench", acting=operator)
    do_import_policy(SAMPLE.read_text(), acting=operator)
    # Start from an empty inventory and staging table without loading them (a cascading ORM
    # delete would hold every row in memory and spoil the peak-RSS figure).
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Resource._meta.db_table}, {ScanItem._meta.db_table} CASCADE")
    scans.collect_inventory = synthetic_inventory(size, 1000)  # type: ignore[attr-defined]
    phases: dict[str, float] = {}
    for phase in ("_collect", "finalise"):
        setattr(scans, phase, timed(getattr(scans, phase), phase, phases))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for label in ("first scan (all new)", "second scan (all known)"):
        scan = do_request_scan(acting=operator)
        started = time.perf_counter()
        scan = scans.execute_scan(scan.pk)
        elapsed = time.perf_counter() - started
        assert scan.status == Scan.Status.COMPLETE, scan.errors
        assert scan.total_resources == size
        print(
            f"{connection.vendor} {size:>9,} resources, {label}: {elapsed:6.1f} s, "
            f"{size / elapsed:>9,.0f} resources/s, {scan.violation_count:,} violations "
            f"(staging {phases['_collect']:.1f} s, finalisation {phases['finalise']:.1f} s)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {peak / 1024:.0f} MB (before scanning {rss_before / 1024:.0f} MB)")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
