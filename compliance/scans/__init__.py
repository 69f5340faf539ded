"""Running a scan: collect inventory into staging, then finalise it in one transaction.

Readers only ever see finalised state: the collect phase writes ``ScanItem`` rows, which no
reader looks at, and :func:`finalise` turns them into ``Resource``, ``TagChange``, ``Violation``
and ``ComplianceSnapshot`` rows and flips the scan to complete/partial in a single transaction.
A scan whose every job failed changes nothing and ends ``failed``.

- this module: claiming and running a scan in one process, the collect phase, failure;
- ``fanout``: the same scan split into one task per account x region, for any number of
  task workers, finishing as one scan (its tasks in ``tasks``);
- ``staging``: writing collected resources to ``ScanItem`` (``COPY`` on PostgreSQL);
- ``finalisation``: what a scan covers, and making it current;
- ``merge`` / ``merge_postgres``: staged items into resources, judged, with their violations
  and tag changes (ORM batches anywhere; set-based SQL on PostgreSQL);
- ``snapshots``: the per-account aggregates kept for trends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance.aws import collect_inventory
from compliance.aws.base import AccountTarget, JobOutcome, ResourceBatch, ScanPlan
from compliance.models import AwsAccount, Scan
from compliance.scans.finalisation import (
    ScanNotRunnable,
    accounts_for,
    describe_failure,
    finalise,
    scan_scope_filter,
)
from compliance.scans.snapshots import take_snapshots as _take_snapshots
from compliance.scans.staging import clear as clear_staging
from compliance.scans.staging import stage
from compliance.writes.scan_events import record_scan_failed, record_scan_started

__all__ = [
    "ProgressCallback",
    "ScanNotRunnable",
    "_take_snapshots",
    "claim",
    "describe_failure",
    "execute_scan",
    "fail",
    "finalise",
    "outcome_record",
    "refresh_planner_statistics",
    "run_claimed",
    "scan_scope_filter",
    "target_for",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Scan], None]


def execute_scan(scan_id: int, *, on_progress: ProgressCallback | None = None) -> Scan:
    """Run a queued scan to its end; safe to call from any worker (the claim is atomic)."""
    return run_claimed(claim(scan_id), on_progress=on_progress)


def claim(scan_id: int) -> Scan:
    """Take a queued scan for this process: only one caller ever gets it."""
    claimed = Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(
        status=Scan.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        raise ScanNotRunnable(f"scan #{scan_id} is not queued")
    scan = Scan.objects.select_related("policy").get(pk=scan_id)
    record_scan_started(scan)
    return scan


def run_claimed(scan: Scan, *, on_progress: ProgressCallback | None = None) -> Scan:
    """Collect and finalise a claimed scan in this process."""
    try:
        _collect(scan, on_progress)
        finalise(scan)
    except BaseException as exc:
        fail(scan, exc)
        raise
    finally:
        clear_staging(scan)
    refresh_planner_statistics()
    if on_progress:
        on_progress(scan)
    return scan


def refresh_planner_statistics() -> None:
    """After a scan has rewritten thousands of rows, PostgreSQL's planner may still think the
    tables are nearly empty (autovacuum runs later) and choose plans that take seconds instead
    of milliseconds; ANALYZE samples the tables, so it stays cheap at any size."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE compliance_resource, compliance_violation, compliance_tagchange")


def _collect(scan: Scan, on_progress: ProgressCallback | None) -> None:
    targets = [target_for(account) for account in accounts_for(scan)]
    events = collect_inventory(
        targets,
        regions=scan.regions or None,
        types=scan.resource_types or None,
        max_workers=settings.SCAN_MAX_WORKERS,
        batch_size=settings.SCAN_BATCH_SIZE,
    )
    for event in events:
        if isinstance(event, ResourceBatch):
            # The batch and the progress that counts it commit together (one commit, not two).
            with transaction.atomic():
                stage(scan, event.resources)
                scan.resources_seen += len(event.resources)
                Scan.objects.filter(pk=scan.pk).update(resources_seen=scan.resources_seen)
            continue
        if isinstance(event, ScanPlan):
            scan.progress_total += event.jobs
        elif isinstance(event, JobOutcome):
            scan.progress_done += 1
            scan.outcomes.append(outcome_record(event))
        scan.aws_requests += event.requests
        scan.throttled_requests += event.throttled
        scan.save(
            update_fields=[
                "progress_total",
                "progress_done",
                "outcomes",
                "aws_requests",
                "throttled_requests",
            ]
        )
        if on_progress:
            on_progress(scan)


def target_for(account: AwsAccount, regions: tuple[str, ...] | None = None) -> AccountTarget:
    """How to reach ``account``; ``regions`` replaces its own list of regions when given."""
    return AccountTarget(
        account_id=account.account_id,
        role_arn=account.role_arn or None,
        external_id=account.external_id or None,
        regions=tuple(account.regions) if regions is None else regions,
    )


def outcome_record(outcome: JobOutcome) -> dict[str, Any]:
    """A job's outcome as ``Scan.outcomes`` keeps it."""
    return {
        "account_id": outcome.account_id,
        "region": outcome.region,
        "resource_type": outcome.resource_type,
        "status": outcome.status,
        "resource_count": outcome.resource_count,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "duration_ms": outcome.duration_ms,
        "requests": outcome.requests,
        "throttled": outcome.throttled,
    }


def fail(scan: Scan, exc: BaseException) -> None:
    """Mark a scan that stopped on an exception failed, saying why (the exception's name)."""
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
    logger.exception("scan #%s failed", scan.pk)
    with transaction.atomic():
        Scan.objects.filter(pk=scan.pk).update(
            status=Scan.Status.FAILED,
            finished_at=timezone.now(),
            errors=[*scan.errors, f"scan stopped: {reason}"],
        )
        record_scan_failed(scan, {"reason": reason})
    scan.refresh_from_db()
