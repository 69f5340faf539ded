"""A scan fanned out across task workers: one task per account x region, one scan at the end.

``manage.py scan`` runs a scan in one process (:func:`compliance.scans.execute_scan`). A scan
started as a task is split instead, so that any number of ``manage.py db_worker`` processes
share it (on PostgreSQL each worker claims task rows with ``SELECT ... FOR UPDATE SKIP LOCKED``,
so no task runs twice at once):

1. :func:`start` claims the scan and works out its partitions: each account x region for the
   regional resource types, and each account x ``global`` for the global ones (S3's bucket
   list, read once per account as the one-process scan reads it). Regions come from the scan,
   else the account, else AWS (the regions enabled for the account); an account that cannot be
   reached to ask ends with one failed outcome, as in the one-process scan. Fewer than two
   partitions: the scan simply runs here. Otherwise the partition rows and one task each are
   written in one transaction (the database task backend queues in the same database: all
   or nothing).
2. :func:`run_partition` claims its partition (a new attempt: what an earlier attempt staged is
   dropped and its counts taken back from the scan, and that attempt's later writes stop
   counting), collects into staging, and counts resources and jobs on the scan as they come.
   Then, under the scan's row lock, it adds its outcomes to the scan and, when no other
   partition is left, queues the finalisation in that same transaction: exactly one partition
   finds itself last, and the finalisation is queued only if its partition's work committed.
3. :func:`finalise_fanned_out` finalises under the scan's row lock, from everything the
   partitions staged, exactly as the one-process scan does; run again, it finds the scan
   finished and does nothing.

Every transaction that writes both rows writes (or locks) the scan row before the partition row,
so two of them never wait for each other in a cycle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from compliance.aws import GLOBAL_TYPES, RESOURCE_TYPES, collect_inventory
from compliance.aws.base import (
    GLOBAL_REGION,
    AccountTarget,
    DiscoveredResource,
    JobOutcome,
    ResourceBatch,
)
from compliance.aws.inventory import ReachedAccount, configured_regions, reach_account
from compliance.models import AwsAccount, Scan, ScanItem, ScanPartition
from compliance.scans import (
    claim,
    fail,
    finalise,
    outcome_record,
    refresh_planner_statistics,
    run_claimed,
    target_for,
)
from compliance.scans.finalisation import accounts_for
from compliance.scans.staging import clear as clear_staging
from compliance.scans.staging import stage

logger = logging.getLogger(__name__)

DONE = ScanPartition.Status.DONE


@dataclass(frozen=True, slots=True)
class _Types:
    regional: tuple[str, ...]
    global_: tuple[str, ...]


def _types(scan: Scan) -> _Types:
    names = sorted(set(scan.resource_types)) if scan.resource_types else RESOURCE_TYPES
    return _Types(
        regional=tuple(t for t in names if t not in GLOBAL_TYPES),
        global_=tuple(t for t in names if t in GLOBAL_TYPES),
    )


# --- 1. start -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    partitions: list[ScanPartition]
    #: Account-level failures met while asking AWS for regions, as ``Scan.outcomes`` keeps them.
    failed: list[dict[str, Any]]


def start(scan_id: int) -> Scan:
    """Claim a queued scan and fan it out (or run it here, when it has a single partition)."""
    scan = claim(scan_id)
    try:
        plan = _plan(scan)
        if len(plan.partitions) < 2:
            return run_claimed(scan)
        _fan_out(scan, plan)
    except BaseException as exc:
        if scan.status == Scan.Status.RUNNING:  # run_claimed has recorded its own failure
            fail(scan, exc)
        raise
    scan.refresh_from_db()
    return scan


def _plan(scan: Scan) -> _Plan:
    types = _types(scan)
    explicit = tuple(sorted(set(scan.regions)))
    targets = [target_for(account) for account in accounts_for(scan)]
    # Only accounts without regions of their own (nor the scan's) are reached to ask AWS.
    unknown = [t for t in targets if types.regional and not configured_regions(t, explicit)]
    discovered = _discover_regions(unknown)
    partitions: list[ScanPartition] = []
    failed: list[dict[str, Any]] = []
    for target in targets:
        found = discovered.get(target.account_id)
        if isinstance(found, JobOutcome):
            failed.append(outcome_record(found))
            continue
        regions = found.regions if found is not None else configured_regions(target, explicit)
        if types.regional:
            partitions += [
                ScanPartition(
                    scan=scan, account_id=target.account_id, region=r, jobs=len(types.regional)
                )
                for r in regions
            ]
        if types.global_:
            partitions.append(
                ScanPartition(
                    scan=scan,
                    account_id=target.account_id,
                    region=GLOBAL_REGION,
                    jobs=len(types.global_),
                )
            )
    return _Plan(partitions=partitions, failed=failed)


def _discover_regions(
    targets: Sequence[AccountTarget],
) -> dict[str, ReachedAccount | JobOutcome]:
    """Each account reached as the one-process scan reaches it (role assumed, identity checked),
    with its enabled regions; an account-level failed outcome for one that cannot be."""
    if not targets:
        return {}
    with ThreadPoolExecutor(min(settings.SCAN_MAX_WORKERS, len(targets))) as pool:
        found = pool.map(lambda target: reach_account(target, (), regional=True), targets)
        return dict(zip([t.account_id for t in targets], found, strict=True))


def _fan_out(scan: Scan, plan: _Plan) -> None:
    with transaction.atomic():
        Scan.objects.filter(pk=scan.pk).update(
            progress_total=sum(p.jobs for p in plan.partitions) + len(plan.failed),
            progress_done=len(plan.failed),
            outcomes=plan.failed,
        )
        _enqueue(ScanPartition.objects.bulk_create(plan.partitions))


def _enqueue(partitions: list[ScanPartition]) -> None:
    """Queue a task for each partition, and keep its id (a queued task is a sign of life)."""
    from compliance.scans.tasks import run_partition_task  # that module imports this one

    for partition in partitions:
        partition.task_id = str(run_partition_task.enqueue(partition.scan_id, partition.pk).id)
    ScanPartition.objects.bulk_update(partitions, ["task_id"])


# --- 2. one partition -----------------------------------------------------------------------


class _Stopped(Exception):
    """The scan has ended (a watchdog failed it), or a later attempt has taken the partition
    over: this attempt's writes no longer count."""


@dataclass(slots=True)
class _Attempt:
    scan: Scan
    partition: ScanPartition
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Job outcomes already counted in ``Scan.progress_done``.
    counted: int = 0

    def running_scan(self) -> QuerySet[Scan]:
        return Scan.objects.filter(pk=self.scan.pk, status=Scan.Status.RUNNING)

    def mine(self) -> QuerySet[ScanPartition]:
        return ScanPartition.objects.filter(
            pk=self.partition.pk,
            attempt=self.partition.attempt,
            status=ScanPartition.Status.RUNNING,
        )

    def stage(self, resources: list[DiscoveredResource]) -> None:
        count = len(resources)
        with transaction.atomic():
            stage(self.scan, resources)
            if not self.running_scan().update(resources_seen=F("resources_seen") + count):
                raise _Stopped
            if not self.mine().update(resources_seen=F("resources_seen") + count):
                raise _Stopped

    def record(self, outcome: JobOutcome) -> None:
        record = outcome_record(outcome)
        if record["region"] == "*":  # the account could not be reached from this partition
            record["region"] = self.partition.region
        self.records.append(record)
        with transaction.atomic():
            counted = self.running_scan().update(
                progress_done=F("progress_done") + 1,
                aws_requests=F("aws_requests") + outcome.requests,
                throttled_requests=F("throttled_requests") + outcome.throttled,
            )
            if not counted:
                raise _Stopped
            if not self.mine().update(jobs_done=F("jobs_done") + 1, outcomes=self.records):
                raise _Stopped
        self.counted += 1


def run_partition(partition_id: int) -> str:
    """Collect one partition into staging and record its outcomes; safe to run again."""
    attempt = _claim_partition(partition_id)
    if attempt is None:
        return "nothing to do"
    try:
        _collect_partition(attempt)
    except _Stopped:
        if not attempt.running_scan().exists():  # nothing will finalise what it staged
            _staged_by(attempt.partition).delete()
        return "stopped"
    except Exception as exc:
        partition = attempt.partition
        logger.exception("scan #%s: partition %s failed", attempt.scan.pk, partition)
        stopped = JobOutcome(
            partition.account_id,
            partition.region,
            "*",
            "failed",
            error_code="InternalError",
            error_message=f"partition stopped: {type(exc).__name__}",
        )
        attempt.records.append(outcome_record(stopped))
    return _complete(attempt)


def _claim_partition(partition_id: int) -> _Attempt | None:
    scan_id = ScanPartition.objects.values_list("scan_id", flat=True).get(pk=partition_id)
    with transaction.atomic():
        scan = Scan.objects.select_for_update(no_key=True).get(pk=scan_id)
        partition = ScanPartition.objects.select_for_update().get(pk=partition_id)
        if partition.status == DONE or scan.status != Scan.Status.RUNNING:
            return None
        if partition.attempt:  # an earlier attempt died (or is still going, and now stops)
            _staged_by(partition).delete()
            Scan.objects.filter(pk=scan_id).update(
                resources_seen=F("resources_seen") - partition.resources_seen,
                progress_done=F("progress_done") - partition.jobs_done,
            )
        partition.attempt += 1
        partition.status = ScanPartition.Status.RUNNING
        partition.resources_seen = partition.jobs_done = 0
        partition.outcomes = []
        partition.worker = f"{socket.gethostname()}:{os.getpid()}"
        partition.started_at = timezone.now()
        partition.save(
            update_fields=[
                "attempt",
                "status",
                "resources_seen",
                "jobs_done",
                "outcomes",
                "worker",
                "started_at",
            ]
        )
    return _Attempt(scan=scan, partition=partition)


def _staged_by(partition: ScanPartition) -> QuerySet[ScanItem]:
    """What this partition stages: its regional types in its region, or its global types."""
    items = ScanItem.objects.filter(scan_id=partition.scan_id, account_id=partition.account_id)
    if partition.region == GLOBAL_REGION:
        return items.filter(resource_type__in=GLOBAL_TYPES)
    return items.filter(region=partition.region).exclude(resource_type__in=GLOBAL_TYPES)


def _collect_partition(attempt: _Attempt) -> None:
    scan, partition = attempt.scan, attempt.partition
    account = AwsAccount.objects.get(account_id=partition.account_id)
    types = _types(scan)
    options: dict[str, Any] = {
        "max_workers": settings.SCAN_MAX_WORKERS,
        "batch_size": settings.SCAN_BATCH_SIZE,
    }
    if partition.region == GLOBAL_REGION:
        # As the one-process scan lists them: once per account, kept to the scan's regions.
        events = collect_inventory(
            [target_for(account)], regions=scan.regions or None, types=types.global_, **options
        )
    else:
        events = collect_inventory(
            [target_for(account, (partition.region,))], types=types.regional, **options
        )
    with contextlib.closing(events):  # stops the collector's threads whatever happens here
        for event in events:
            if isinstance(event, ResourceBatch):
                attempt.stage(event.resources)
            elif isinstance(event, JobOutcome):
                attempt.record(event)
            elif event.requests:  # the plan: reaching the account took these requests
                attempt.running_scan().update(
                    aws_requests=F("aws_requests") + event.requests,
                    throttled_requests=F("throttled_requests") + event.throttled,
                )


def _complete(attempt: _Attempt) -> str:
    from compliance.scans.tasks import finalise_scan_task  # that module imports this one

    partition = attempt.partition
    top_up = max(partition.jobs - attempt.counted, 0)  # jobs that will report no outcome
    with transaction.atomic():
        scan = Scan.objects.select_for_update(no_key=True).get(pk=partition.scan_id)
        finished = attempt.mine().update(
            status=DONE,
            finished_at=timezone.now(),
            jobs_done=attempt.counted + top_up,
            outcomes=attempt.records,
        )
        if not finished:
            return "stopped"
        Scan.objects.filter(pk=scan.pk).update(
            outcomes=[*scan.outcomes, *attempt.records],
            progress_done=F("progress_done") + top_up,
        )
        if ScanPartition.objects.filter(scan_id=scan.pk).exclude(status=DONE).exists():
            return "done"
        finalise_scan_task.enqueue(scan.pk)
    return "done, last"


# --- 3. finalisation ------------------------------------------------------------------------


def finalise_fanned_out(scan_id: int) -> str:
    """Finalise a fanned-out scan once all its partitions are done; a no-op otherwise."""
    error: Exception | None = None
    with transaction.atomic():
        scan = (
            Scan.objects.select_for_update(no_key=True, of=("self",))
            .select_related("policy")
            .get(pk=scan_id)
        )
        if scan.status != Scan.Status.RUNNING:
            result = "finished already"
        elif ScanPartition.objects.filter(scan=scan).exclude(status=DONE).exists():
            return "partitions still running"
        else:
            # Workers finish in any order; the record does not depend on which came first.
            scan.outcomes = sorted(scan.outcomes, key=_outcome_order)
            try:
                with transaction.atomic():
                    finalise(scan)
            except Exception as exc:
                error = exc
                fail(scan, exc)
            result = scan.status
    # Also what partitions staged after the scan was failed by a watchdog.
    clear_staging(scan)
    if error is not None:
        raise error
    refresh_planner_statistics()
    return result


def _outcome_order(outcome: dict[str, Any]) -> tuple[str, str, str]:
    return (outcome["account_id"], outcome["region"], outcome["resource_type"])


def requeue_unfinished(scan_id: int) -> int:
    """Queue again what a running fanned-out scan still waits for, after a worker died: each
    partition not done (a new attempt replaces the old one's staging), or the finalisation when
    every partition is done. Safe to call at any time; returns how many tasks were queued."""
    if not Scan.objects.filter(pk=scan_id, status=Scan.Status.RUNNING).exists():
        return 0
    unfinished = ScanPartition.objects.filter(scan_id=scan_id).exclude(status=DONE).order_by("pk")
    return requeue(scan_id, list(unfinished))


def requeue(scan_id: int, unfinished: list[ScanPartition]) -> int:
    """:func:`requeue_unfinished` for a running scan whose ``unfinished`` partitions the caller
    has already read; returns how many tasks were queued."""
    from compliance.scans.tasks import finalise_scan_task  # that module imports this one

    if not unfinished:
        finalise_scan_task.enqueue(scan_id)
        return 1
    _enqueue(unfinished)
    return len(unfinished)
