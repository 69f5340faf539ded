"""Retention: old scans (with their snapshots, tag changes and staging rows) and old audit
events leave the database, in short transactions.

Each batch deletes at most ``batch_size`` rows in a transaction of its own, so no lock is held
for long: readers never wait (PostgreSQL's MVCC; SQLite's WAL), and a scan finalising meanwhile
waits for one batch at most.

What is never deleted, whatever its age:

- the latest finished scan and the latest complete one (every answer is based on the former;
  the latter is the last full picture);
- a scan still referenced by current data: a resource's ``last_seen_scan`` (gone resources
  included), or a current violation. Snapshots and tag changes are the history *of* a scan,
  not current data: they go with it, so trends and drift keep every retained scan's figures
  and lose only periods older than the retention.
- queued and running scans.

Audit events are append-only (model, queryset and a database trigger all refuse deletes). The
one way out is :func:`prune_audit_events`: on PostgreSQL the trigger lets a DELETE through only
when the transaction has set ``finops.audit_prune`` to ``on`` and the row is older than the
cutoff in ``finops.audit_prune_before`` (migration 0011), both set here with ``set_config(...,
true)``, which lasts until the end of the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import (
    AuditEvent,
    ComplianceSnapshot,
    Resource,
    RuleSnapshot,
    Scan,
    ScanItem,
    TagChange,
    Violation,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Viewer,
)
from compliance.writes.refusals import ActionError, refuse, require

#: Scans whose rows are deleted together: a bound on the ``IN`` lists, not on rows.
_SCANS_PER_ROUND = 200
#: The rows that belong to a scan and go with it, in the order they are deleted.
_SCAN_ROWS: tuple[tuple[str, type[models.Model]], ...] = (
    ("scan_items", ScanItem),
    ("tag_changes", TagChange),
    ("snapshots", ComplianceSnapshot),
    ("snapshots", RuleSnapshot),  # counted with the other snapshots
)
#: Scans past these statuses are done; queued and running ones are never pruned.
_DONE = (Scan.Status.COMPLETE, Scan.Status.PARTIAL, Scan.Status.FAILED)

# Plain SQL: the ORM's delete() is refused for audit events on purpose. The subquery bounds
# the batch; ``occurred_at`` is indexed.
_DELETE_AUDIT_BATCH = (
    "DELETE FROM compliance_auditevent WHERE id IN ("
    "SELECT id FROM compliance_auditevent WHERE occurred_at < %s ORDER BY occurred_at, id LIMIT %s)"
)
_ALLOW_AUDIT_PRUNE = (
    "SELECT set_config('finops.audit_prune', 'on', true), "
    "set_config('finops.audit_prune_before', %s, true)"
)
#: Switched off again before the batch commits: a caller's own transaction (or a test's)
#: around the batch must not inherit the permission.
_END_AUDIT_PRUNE = (
    "SELECT set_config('finops.audit_prune', 'off', true), "
    "set_config('finops.audit_prune_before', '', true)"
)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows older than these go: scans by ``finished_at``, audit events by ``occurred_at``."""

    scans_before: datetime
    audit_before: datetime

    @classmethod
    def from_days(cls, now: datetime, *, scan_days: int, audit_days: int) -> Cutoffs:
        if scan_days < 1 or audit_days < 1:
            raise ValueError("retention: at least one day for scans and for audit events")
        return cls(now - timedelta(days=scan_days), now - timedelta(days=audit_days))


@dataclass(frozen=True, slots=True)
class Batch:
    """One committed batch: ``deleted`` rows of ``table``, ``total`` of them so far this run."""

    table: str
    deleted: int
    total: int


OnBatch = Callable[[Batch], None]


@dataclass
class PruneCounts:
    """Rows deleted (or, in a dry run, that would be), per kind."""

    scans: int = 0
    scan_items: int = 0
    tag_changes: int = 0
    snapshots: int = 0
    audit_events: int = 0
    expired_cache_entries: int = 0
    kept_scans: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "scans": self.scans,
            "scan_items": self.scan_items,
            "tag_changes": self.tag_changes,
            "snapshots": self.snapshots,
            "audit_events": self.audit_events,
            "expired_cache_entries": self.expired_cache_entries,
        }


def protected_scan_ids() -> list[int]:
    """The latest finished scan and the latest complete one (often the same)."""
    ordered = Scan.objects.order_by("-finished_at", "-id")
    ids = {
        ordered.filter(status__in=Scan.FINISHED).values_list("id", flat=True).first(),
        ordered.filter(status=Scan.Status.COMPLETE).values_list("id", flat=True).first(),
    }
    return sorted(i for i in ids if i is not None)


def prunable_scans(before: datetime) -> QuerySet[Scan]:
    """Done scans finished before ``before`` that nothing current refers to."""
    return (
        Scan.objects.filter(status__in=_DONE, finished_at__lt=before)
        .exclude(pk__in=protected_scan_ids())
        .exclude(Exists(Resource.objects.filter(last_seen_scan=OuterRef("pk"))))
        .exclude(Exists(Violation.objects.filter(scan=OuterRef("pk"))))
    )


def count_prunable(cutoffs: Cutoffs) -> PruneCounts:
    """What :func:`prune` would delete now (the dry run)."""
    scans = prunable_scans(cutoffs.scans_before)
    counts = PruneCounts(scans=scans.count(), kept_scans=protected_scan_ids())
    for name, model in _SCAN_ROWS:
        found = model._default_manager.filter(scan__in=scans).count()
        setattr(counts, name, getattr(counts, name) + found)
    counts.audit_events = AuditEvent.objects.filter(occurred_at__lt=cutoffs.audit_before).count()
    return counts


def prune(cutoffs: Cutoffs, *, batch_size: int, on_batch: OnBatch | None = None) -> PruneCounts:
    """Delete old scans with their rows, then old audit events, ``batch_size`` rows at a time.

    Stopping half way (a crash, Ctrl-C) leaves a consistent database: a scan goes only after
    its rows, each batch is committed, and the next run carries on.
    """
    if batch_size < 1:
        raise ValueError("batch_size: at least 1")
    report = on_batch or (lambda batch: None)
    counts = PruneCounts(kept_scans=protected_scan_ids())
    _prune_scans(cutoffs.scans_before, batch_size, counts, report)
    counts.audit_events = prune_audit_events(cutoffs.audit_before, batch_size, report)
    counts.expired_cache_entries = purge_expired_cache_entries(timezone.now())
    return counts


def purge_expired_cache_entries(now: datetime) -> int:
    """Delete the expired entries of the cache table (the shared cache without Redis), which
    Django removes only when the table is full, and then by key order rather than age: kept
    small, the table never reaches that point. Redis expires its own keys (nothing to do)."""
    cache = caches["default"]
    if not isinstance(cache, DatabaseCache):
        return 0
    table = connection.ops.quote_name(str(settings.CACHES["default"]["LOCATION"]))
    with connection.cursor() as cursor:
        # The table name is the configured cache LOCATION, quoted; the value is a parameter.
        cursor.execute(
            f"DELETE FROM {table} WHERE expires < %s",  # noqa: S608  # nosec B608
            [connection.ops.adapt_datetimefield_value(now)],
        )
        return max(int(cursor.rowcount), 0)


def _prune_scans(before: datetime, batch_size: int, counts: PruneCounts, report: OnBatch) -> None:
    candidates = list(prunable_scans(before).order_by("id").values_list("id", flat=True))
    for start in range(0, len(candidates), _SCANS_PER_ROUND):
        # Asked again: nothing can make an old scan current, but the check is cheap.
        scan_ids = list(
            prunable_scans(before)
            .filter(pk__in=candidates[start : start + _SCANS_PER_ROUND])
            .values_list("id", flat=True)
        )
        for name, model in _SCAN_ROWS:
            for deleted in _delete_in_batches(model, scan_ids, batch_size):
                setattr(counts, name, getattr(counts, name) + deleted)
                report(Batch(name, deleted, getattr(counts, name)))
        for chunk in _chunks(scan_ids, batch_size):
            with transaction.atomic():
                deleted = (
                    prunable_scans(before).filter(pk__in=chunk).delete()[1].get(Scan._meta.label, 0)
                )
            counts.scans += deleted
            report(Batch("scans", deleted, counts.scans))


def _delete_in_batches(
    model: type[models.Model], scan_ids: Sequence[int], batch_size: int
) -> Iterator[int]:
    rows = model._default_manager.filter(scan_id__in=scan_ids).order_by("pk")
    while True:
        with transaction.atomic():
            ids = list(rows.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return
            model._default_manager.filter(pk__in=ids).delete()
        yield len(ids)


def _chunks(ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def prune_audit_events(before: datetime, batch_size: int, report: OnBatch | None = None) -> int:
    """Delete audit events that occurred before ``before``; the only deletion the log allows."""
    total = 0
    cutoff = connection.ops.adapt_datetimefield_value(before)
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            postgresql = connection.vendor == "postgresql"
            if postgresql:
                cursor.execute(_ALLOW_AUDIT_PRUNE, [before.isoformat()])
            cursor.execute(_DELETE_AUDIT_BATCH, [cutoff, batch_size])
            deleted = cursor.rowcount
            if postgresql:
                cursor.execute(_END_AUDIT_PRUNE)
        if deleted <= 0:
            return total
        total += deleted
        if report is not None:
            report(Batch("audit_events", deleted, total))


def do_prune(
    *,
    scan_days: int,
    audit_days: int,
    batch_size: int,
    dry_run: bool = False,
    acting: Viewer,
    now: datetime | None = None,
    on_batch: OnBatch | None = None,
) -> PruneCounts:
    """Delete scans and audit events past their retention, ``batch_size`` rows per transaction
    (:mod:`compliance.writes.retention` says what is never deleted).

    Unlike other actions this is many transactions, so its one audit row is written after the
    last batch, with the cutoffs and counts; after a failure, with the counts so far and the
    error. Written after the cutoff, it is never pruned by the run it records. A dry run
    counts what would go and writes nothing.
    """
    require(acting, Action.PRUNE)
    try:
        if batch_size < 1:
            raise ActionError(f"batch_size: at least 1, got {batch_size}")
        cutoffs = Cutoffs.from_days(
            now or timezone.now(), scan_days=scan_days, audit_days=audit_days
        )
    except (ActionError, ValueError) as exc:
        raise refuse(EventType.RETENTION_PRUNED, str(exc), acting=acting) from None
    if dry_run:
        return count_prunable(cutoffs)
    detail: dict[str, object] = {
        "scan_retention_days": scan_days,
        "audit_retention_days": audit_days,
        "scans_before": cutoffs.scans_before.isoformat(),
        "audit_before": cutoffs.audit_before.isoformat(),
        "batch_size": batch_size,
    }
    so_far: dict[str, int] = {}

    def count(batch: Batch) -> None:
        so_far[batch.table] = batch.total
        if on_batch is not None:
            on_batch(batch)

    try:
        counts = prune(cutoffs, batch_size=batch_size, on_batch=count)
    except BaseException as exc:
        with transaction.atomic():
            audit.record(
                EventType.RETENTION_PRUNED,
                acting=acting,
                outcome=AuditEvent.Outcome.ERROR,
                detail={**detail, "deleted": so_far, "error": str(exc) or type(exc).__name__},
            )
        raise
    with transaction.atomic():
        audit.record(
            EventType.RETENTION_PRUNED,
            acting=acting,
            detail={**detail, "deleted": counts.as_dict(), "kept_scans": counts.kept_scans},
        )
    return counts
