"""No scan stays "running" for ever: scans that can no longer finish are marked failed.

A scan runs in one task on one worker, and records its own end, failure included. Two faults
take that away from it:

- the worker dies (SIGKILL, out of memory, its machine stops): nothing is left to finish the
  scan. :func:`fail_stale_scans` finds it by its silence, run by every scan task before its
  scan starts and by ``manage.py fail_stale_scans`` (cron). A scan fanned out across
  workers (``compliance.scans.fanout``) is retried instead: what it still waits for is queued
  again (a new attempt of a partition replaces the lost one's staging), and it is failed only
  once a partition has been lost ``MAX_PARTITION_ATTEMPTS`` times;
- the database goes away mid-scan (restart, fail-over, a dropped connection): the scan stops,
  but the row that should say so cannot be written on the dead connection.
  :func:`record_interrupted_scan` writes it once the database answers again.

A failed scan ends ``failed`` with the reason in its errors and a ``scan.failed`` audit event,
and changes nothing else: readers only ever see finalised scans, so the last finished scan stays
what every answer is based on. It is never resumed; a re-run of its task is refused (it is no
longer queued), so nothing is staged or merged twice.

Signs of life: ``Scan`` has no heartbeat column, so a one-process scan's only one is its start,
and one running longer than ``SCAN_STALE_AFTER_SECONDS`` counts as lost (the setting must stay
above the longest scan). A fanned-out scan also lives by its partitions: each start and finish
of a partition, and each (re)queueing of its task, counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import Error, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from compliance.models import Scan, ScanPartition
from compliance.scans import fanout
from compliance.scans.finalisation import ScanNotRunnable
from compliance.scans.staging import clear as clear_staging
from compliance.writes.scan_events import record_scan_failed

logger = logging.getLogger(__name__)

#: How long :func:`record_interrupted_scan` waits for the database to come back (a restart
#: takes seconds; a fail-over of a managed database well under a minute).
RECONNECT_SECONDS = 60.0
_RECONNECT_PAUSE_SECONDS = 0.5
#: A partition whose worker was lost this many times fails its scan instead of being retried
#: again: something in it kills workers (memory, a collector), and retrying will not help.
MAX_PARTITION_ATTEMPTS = 3


@dataclass(slots=True)
class StaleScans:
    """What one pass of the watchdog did: scans failed, and fanned-out scans queued again."""

    failed: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)


def stale_after() -> timedelta:
    return timedelta(seconds=settings.SCAN_STALE_AFTER_SECONDS)


def _silent_since(cutoff: datetime) -> Q:
    """Running scans whose last sign of life is older than ``cutoff``."""
    return Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)


def fail_stale_scans(now: datetime | None = None) -> StaleScans:
    """Deal with every running scan silent for longer than ``SCAN_STALE_AFTER_SECONDS``:
    queue again what a fanned-out one waits for, fail the others.

    Safe to run anywhere, any number of times at once: a scan is failed by one conditional
    update (so failed and audited once), and a partition queued twice runs once to its end
    (a later attempt supersedes an earlier one).
    """
    now = now or timezone.now()
    limit = stale_after()
    cutoff = now - limit
    seconds = int(limit.total_seconds())
    done = StaleScans()
    # A scan's start is its first sign of life: only scans started before the cutoff qualify.
    candidates = Scan.objects.filter(_silent_since(cutoff), status=Scan.Status.RUNNING)
    for scan in candidates.order_by("pk"):
        partitions = list(ScanPartition.objects.filter(scan=scan).order_by("pk"))
        since = _last_sign_of_life(scan, partitions)
        if since >= cutoff:
            continue
        unfinished = [p for p in partitions if p.status != ScanPartition.Status.DONE]
        lost = [p for p in unfinished if p.attempt >= MAX_PARTITION_ATTEMPTS]
        if partitions and not lost:
            queued = fanout.requeue(scan.pk, unfinished)
            logger.warning(
                "scan #%s: no sign of life since %s; %s task(s) queued again",
                scan.pk,
                since.isoformat(),
                queued,
            )
            done.retried.append(scan.pk)
            continue
        message = (
            f"scan stopped: no sign of life for more than {seconds} s (since "
            f"{since.isoformat(timespec='seconds')}); the worker running it was lost"
        )
        if lost:
            where = ", ".join(f"{p.account_id} {p.region}" for p in lost)
            message += f" {MAX_PARTITION_ATTEMPTS} times running {where}"
        detail = {"reason": "stale", "silent_since": since.isoformat(), "stale_after": seconds}
        if _mark_failed(scan, message, detail, now, also=_silent_since(cutoff)):
            done.failed.append(scan.pk)
    return done


def _last_sign_of_life(scan: Scan, partitions: list[ScanPartition]) -> datetime:
    """The scan's start, or the latest start, finish or (re)queueing of one of its partitions."""
    moments = [scan.started_at or scan.created_at]
    moments += [m for p in partitions for m in (p.started_at, p.finished_at) if m is not None]
    task_ids = [p.task_id for p in partitions if p.task_id]
    if task_ids:
        queued = DBTaskResult.objects.filter(pk__in=task_ids).values_list("enqueued_at", flat=True)
        moments += list(queued)
    return max(moments)


def run_guarded(scan_id: int, step: Callable[[], str]) -> str:
    """Run one step of the scan ``scan_id`` in a task; if it raises, the scan does not stay
    running (:func:`record_interrupted_scan`), unless it was not this task's scan to run."""
    try:
        return step()
    except ScanNotRunnable:
        raise  # claimed by another worker, or already ended: not this task's scan to fail
    except BaseException as error:
        record_interrupted_scan(scan_id, error)
        raise


def record_interrupted_scan(scan_id: int, error: BaseException) -> bool:
    """After the scan ``scan_id`` raised in this process: make sure it does not stay running.

    The scan records its own failure when it can; when the database connection itself was lost
    it cannot, so this reconnects (waiting up to ``RECONNECT_SECONDS`` for the database to come
    back), marks the scan failed unless it already ended, and drops what it had staged: it
    raised here, so no other process is running it. Returns whether it marked the scan failed.
    """
    deadline = time.monotonic() + RECONNECT_SECONDS
    while True:
        try:
            # A connection that saw an error and no longer answers is closed here, so the next
            # query opens a new one (Django never does so by itself within a task).
            connection.close_if_unusable_or_obsolete()
            scan = Scan.objects.get(pk=scan_id)
            reason = type(error).__name__
            marked = _mark_failed(
                scan,
                f"scan stopped: {reason}",
                {"reason": reason, "recorded_after_interruption": True},
                timezone.now(),
            )
            clear_staging(scan)
            return marked
        except Error:  # the connection is gone, or the database is not back yet
            if time.monotonic() >= deadline:
                logger.exception("scan #%s: could not record its failure", scan_id)
                return False
            time.sleep(_RECONNECT_PAUSE_SECONDS)


def _mark_failed(
    scan: Scan, message: str, detail: dict[str, Any], now: datetime, also: Q | None = None
) -> bool:
    """Flip a running scan to failed and audit it, in one transaction; False if it had ended."""
    with transaction.atomic():
        running = Scan.objects.filter(pk=scan.pk, status=Scan.Status.RUNNING)
        if also is not None:
            running = running.filter(also)
        flipped = running.update(
            status=Scan.Status.FAILED, finished_at=now, errors=[*scan.errors, message]
        )
        if not flipped:
            return False
        record_scan_failed(scan, detail)
    logger.warning("scan #%s marked failed: %s", scan.pk, message)
    return True
