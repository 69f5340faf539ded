"""Running a scan: collect inventory into staging, then finalise it in one transaction.

Readers only ever see finalised state: the collect phase writes ``ScanItem`` rows, which no
reader looks at, and :func:`finalise` turns them into ``Resource``, ``TagChange``, ``Violation``
and ``ComplianceSnapshot`` rows and flips the scan to complete/partial in a single transaction.
A scan whose every job failed changes nothing and ends ``failed``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from compliance import audit, figures, policy
from compliance.access import Operator
from compliance.aws import GLOBAL_TYPES, collect_inventory
from compliance.aws.base import AccountTarget, JobOutcome, ResourceBatch, ScanPlan
from compliance.models import (
    AuditEvent,
    AwsAccount,
    ComplianceSnapshot,
    Resource,
    Scan,
    ScanItem,
    TagChange,
    TaggingPolicy,
    Violation,
)

logger = logging.getLogger(__name__)

CHUNK = 2000
SYSTEM = Operator(label="system")

ProgressCallback = Callable[[Scan], None]


class ScanNotRunnable(RuntimeError):
    """The scan was already claimed by another worker or is finished."""


def execute_scan(scan_id: int, *, on_progress: ProgressCallback | None = None) -> Scan:
    """Run a queued scan to its end; safe to call from any worker (the claim is atomic)."""
    claimed = Scan.objects.filter(pk=scan_id, status=Scan.Status.QUEUED).update(
        status=Scan.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        raise ScanNotRunnable(f"scan #{scan_id} is not queued")
    scan = Scan.objects.select_related("policy").get(pk=scan_id)
    audit.record(AuditEvent.EventType.SCAN_STARTED, acting=SYSTEM, target=f"scan #{scan.pk}")
    try:
        _collect(scan, on_progress)
        finalise(scan)
    except BaseException as exc:
        _fail(scan, exc)
        raise
    finally:
        ScanItem.objects.filter(scan=scan).delete()
    _refresh_planner_statistics()
    if on_progress:
        on_progress(scan)
    return scan


def _refresh_planner_statistics() -> None:
    """After a scan has rewritten thousands of rows, PostgreSQL's planner may still think the
    tables are nearly empty (autovacuum runs later) and choose plans that take seconds instead
    of milliseconds; ANALYZE samples the tables, so it stays cheap at any size."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE compliance_resource, compliance_violation, compliance_tagchange")


def _accounts_for(scan: Scan) -> list[AwsAccount]:
    accounts = AwsAccount.objects.filter(enabled=True)
    if scan.account_ids:
        accounts = AwsAccount.objects.filter(account_id__in=scan.account_ids)
    return list(accounts.order_by("account_id"))


def _collect(scan: Scan, on_progress: ProgressCallback | None) -> None:
    targets = [
        AccountTarget(
            account_id=account.account_id,
            role_arn=account.role_arn or None,
            external_id=account.external_id or None,
            regions=tuple(account.regions),
        )
        for account in _accounts_for(scan)
    ]
    events = collect_inventory(
        targets,
        regions=scan.regions or None,
        types=scan.resource_types or None,
        max_workers=settings.SCAN_MAX_WORKERS,
        batch_size=settings.SCAN_BATCH_SIZE,
    )
    for event in events:
        if isinstance(event, ResourceBatch):
            ScanItem.objects.bulk_create(
                [
                    ScanItem(
                        scan=scan,
                        arn=item.arn,
                        account_id=item.account_id,
                        region=item.region,
                        resource_type=item.resource_type,
                        name=item.name[:512],
                        tags=item.tags,
                        attributes=item.attributes,
                    )
                    for item in event.resources
                ],
                ignore_conflicts=True,
            )
            scan.resources_seen += len(event.resources)
            Scan.objects.filter(pk=scan.pk).update(resources_seen=scan.resources_seen)
            continue
        if isinstance(event, ScanPlan):
            scan.progress_total += event.jobs
        elif isinstance(event, JobOutcome):
            scan.progress_done += 1
            scan.outcomes.append(_outcome_record(event))
        scan.save(update_fields=["progress_total", "progress_done", "outcomes"])
        if on_progress:
            on_progress(scan)


def _outcome_record(outcome: JobOutcome) -> dict[str, Any]:
    return {
        "account_id": outcome.account_id,
        "region": outcome.region,
        "resource_type": outcome.resource_type,
        "status": outcome.status,
        "resource_count": outcome.resource_count,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "duration_ms": outcome.duration_ms,
    }


def describe_failure(outcome: dict[str, Any]) -> str:
    where = outcome["account_id"]
    if outcome["region"] != "*":
        where += f" {outcome['region']}"
    if outcome["resource_type"] != "*":
        where += f" {outcome['resource_type']}"
    return f"{where}: {outcome['error_code']} {outcome['error_message']}".strip()


def _fail(scan: Scan, exc: BaseException) -> None:
    reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
    logger.exception("scan #%s failed", scan.pk)
    with transaction.atomic():
        Scan.objects.filter(pk=scan.pk).update(
            status=Scan.Status.FAILED,
            finished_at=timezone.now(),
            errors=[*scan.errors, f"scan stopped: {reason}"],
        )
        audit.record(
            AuditEvent.EventType.SCAN_FAILED,
            acting=SYSTEM,
            target=f"scan #{scan.pk}",
            outcome=AuditEvent.Outcome.ERROR,
            detail={"reason": reason},
        )
    scan.refresh_from_db()


# --- Finalisation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a scan looked at successfully: only there may resources be marked gone."""

    scan: Scan
    regional: frozenset[tuple[str, str, str]]  # (account_id, region, type) collected fine
    global_: frozenset[tuple[str, str]]  # (account_id, type) for global types collected fine

    def gone_filters(self) -> Iterator[Q]:
        for account_id, region, resource_type in sorted(self.regional):
            yield Q(account__account_id=account_id, region=region, resource_type=resource_type)
        for account_id, resource_type in sorted(self.global_):
            q = Q(account__account_id=account_id, resource_type=resource_type)
            if self.scan.regions:
                q &= Q(region__in=self.scan.regions)
            yield q


def _scope(scan: Scan) -> _Scope:
    regional, global_ = set(), set()
    for outcome in scan.outcomes:
        if outcome["status"] != "ok":
            continue
        if outcome["resource_type"] in GLOBAL_TYPES:
            global_.add((outcome["account_id"], outcome["resource_type"]))
        else:
            regional.add((outcome["account_id"], outcome["region"], outcome["resource_type"]))
    return _Scope(scan=scan, regional=frozenset(regional), global_=frozenset(global_))


def finalise(scan: Scan) -> None:
    """Make a collected scan the current state, in one transaction."""
    failures = [o for o in scan.outcomes if o["status"] != "ok"]
    if len(failures) == len(scan.outcomes):  # nothing succeeded (or nothing to do)
        errors = [describe_failure(o) for o in failures] or ["nothing to scan"]
        with transaction.atomic():
            Scan.objects.filter(pk=scan.pk).update(
                status=Scan.Status.FAILED, finished_at=timezone.now(), errors=errors
            )
            audit.record(
                AuditEvent.EventType.SCAN_FAILED,
                acting=SYSTEM,
                target=f"scan #{scan.pk}",
                outcome=AuditEvent.Outcome.ERROR,
                detail={"errors": errors[:50]},
            )
        scan.refresh_from_db()
        return

    if scan.policy is None:  # do_request_scan always sets it; a hand-made row might not
        raise ScanNotRunnable(f"scan #{scan.pk} has no tagging policy")
    now = timezone.now()
    accounts = {a.account_id: a for a in _accounts_for(scan)}
    with transaction.atomic():
        # Serialise finalisations touching the same accounts (PostgreSQL row locks; SQLite
        # already allows one writer at a time).
        list(
            AwsAccount.objects.select_for_update().filter(pk__in=[a.pk for a in accounts.values()])
        )
        judge = _Judge(scan, scan.policy, now)
        _merge_items(scan, judge, accounts, now)
        _mark_gone(_scope(scan), now)
        _rejudge_unseen(judge, accounts)
        _take_snapshots(scan, judge.policy, now)
        totals = _scan_totals(scan, now)
        scan.status = Scan.Status.PARTIAL if failures else Scan.Status.COMPLETE
        scan.finished_at = now
        scan.errors = [describe_failure(o) for o in failures]
        scan.total_resources = totals["total"]
        scan.in_scope_resources = totals["in_scope"]
        scan.compliant_resources = totals["compliant"]
        scan.violation_count = totals["violations"]
        scan.save()
        audit.record(
            AuditEvent.EventType.SCAN_FINISHED,
            acting=SYSTEM,
            target=f"scan #{scan.pk}",
            detail={
                "status": scan.status,
                "total_resources": scan.total_resources,
                "violations": scan.violation_count,
                "failed_jobs": len(failures),
            },
        )


def _chunks(queryset: QuerySet[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """Keyset pagination by primary key: flat memory, no OFFSET scans."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def _merge_items(
    scan: Scan,
    judge: _Judge,
    accounts: dict[str, AwsAccount],
    now: datetime,
) -> None:
    """Upsert staged items into Resource, judged on the way, recording tag changes.

    Each chunk is judged while its tags are in hand, so a resource is read once and written
    once; only resources this scan did not see are judged again afterwards (``_rejudge_unseen``).
    """
    for items in _chunks(ScanItem.objects.filter(scan=scan)):
        # A subquery rather than a list of ARNs: no thousand-string parameter to send.
        chunk = ScanItem.objects.filter(scan=scan, pk__gte=items[0].pk, pk__lte=items[-1].pk)
        known = {
            row["arn"]: row
            for row in Resource.objects.filter(arn__in=chunk.values("arn")).values(
                "id", "arn", "tags"
            )
        }
        changes: list[TagChange] = []
        upserts: list[Resource] = []
        for item in items:
            account = accounts.get(item.account_id)
            if account is None:  # credentials answered for an account not asked for
                continue
            previous = known.get(item.arn)
            if previous is not None:
                changes.extend(_tag_changes(previous["id"], previous["tags"], item.tags, scan, now))
            upserts.append(
                Resource(
                    arn=item.arn,
                    account=account,
                    region=item.region,
                    resource_type=item.resource_type,
                    name=item.name,
                    tags=item.tags,
                    attributes=item.attributes,
                    first_seen_at=now,
                    last_seen_at=now,
                    gone_since=None,
                    last_seen_scan=scan,
                )
            )
        verdicts = [judge.verdict(r) for r in upserts]
        for resource, (is_compliant, findings) in zip(upserts, verdicts, strict=True):
            resource.is_compliant = is_compliant
            resource.violation_count = len(findings)
        Resource.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["arn"],
            update_fields=[
                "account",
                "region",
                "resource_type",
                "name",
                "tags",
                "attributes",
                "last_seen_at",
                "gone_since",
                "last_seen_scan",
                "is_compliant",
                "violation_count",
            ],
        )
        ids = _resource_ids(upserts, known)
        judge.replace_violations(
            [(ids[r.arn], findings) for r, (_, findings) in zip(upserts, verdicts, strict=True)]
        )
        TagChange.objects.bulk_create(changes)


def _resource_ids(
    upserts: list[Resource], known: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """ARN -> primary key; PostgreSQL and SQLite return the keys of upserted rows."""
    ids = {r.arn: r.pk for r in upserts if r.pk is not None}
    missing = [r.arn for r in upserts if r.arn not in ids and r.arn not in known]
    ids.update({arn: row["id"] for arn, row in known.items() if arn not in ids})
    if missing:
        ids.update(Resource.objects.filter(arn__in=missing).values_list("arn", "id"))
    return ids


def _tag_changes(
    resource_id: int, old: dict[str, str], new: dict[str, str], scan: Scan, now: datetime
) -> Iterable[TagChange]:
    if old == new:
        return []
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        kind = (
            TagChange.Kind.ADDED
            if before is None
            else TagChange.Kind.REMOVED
            if after is None
            else TagChange.Kind.CHANGED
        )
        changes.append(
            TagChange(
                resource_id=resource_id,
                scan=scan,
                observed_at=now,
                key=key[:128],
                kind=kind,
                old_value=None if before is None else before[:256],
                new_value=None if after is None else after[:256],
            )
        )
    return changes


def _mark_gone(scope: _Scope, now: datetime) -> None:
    for q in scope.gone_filters():
        Resource.objects.filter(q, gone_since__isnull=True).exclude(
            last_seen_scan=scope.scan
        ).update(gone_since=now)


class _Judge:
    """Judges resources with the scan's policy and replaces their violations, chunk by chunk.

    A violation found again keeps its ``first_detected_at``, so "violating since" survives
    rescans.
    """

    def __init__(self, scan: Scan, policy_row: TaggingPolicy, now: datetime) -> None:
        self.scan = scan
        self.policy_row = policy_row
        self.policy = policy.policy_from_dict(policy_row.document)
        self.now = now

    def verdict(self, resource: Resource) -> tuple[bool | None, list[policy.Finding]]:
        findings = policy.evaluate(self.policy, resource.resource_type, resource.tags)
        if not policy.is_in_scope(self.policy, resource.resource_type):
            return None, findings
        return not findings, findings

    def replace_violations(self, judged: list[tuple[int, list[policy.Finding]]]) -> None:
        ids = [resource_id for resource_id, _ in judged]
        first_detected = {
            (v.resource_id, v.violation_type, v.tag_name): v.first_detected_at
            for v in Violation.objects.filter(resource_id__in=ids).only(
                "resource_id", "violation_type", "tag_name", "first_detected_at"
            )
        }
        if first_detected:
            Violation.objects.filter(resource_id__in=ids).delete()
        Violation.objects.bulk_create(
            [
                Violation(
                    resource_id=resource_id,
                    scan=self.scan,
                    policy=self.policy_row,
                    violation_type=finding.violation_type,
                    tag_name=finding.tag_name,
                    current_value=finding.current_value,
                    expected=finding.expected[:1024],
                    first_detected_at=first_detected.get(
                        (resource_id, finding.violation_type, finding.tag_name), self.now
                    ),
                )
                for resource_id, findings in judged
                for finding in findings
            ]
        )


def _rejudge_unseen(judge: _Judge, accounts: dict[str, AwsAccount]) -> None:
    """Judge the present resources this scan did not see (a failed region, a filtered type).

    They keep their last known tags but are judged by this scan's policy, so every current
    violation of the scanned accounts comes from the same policy version.
    """
    account_pks = [a.pk for a in accounts.values()]
    # Violations of resources that are gone no longer count.
    Violation.objects.filter(
        resource__account_id__in=account_pks, resource__gone_since__isnull=False
    ).delete()
    unseen = (
        Resource.objects.filter(account_id__in=account_pks, gone_since__isnull=True)
        .exclude(last_seen_scan=judge.scan)
        .only("id", "resource_type", "tags")
    )
    for resources in _chunks(unseen):
        verdicts = [judge.verdict(r) for r in resources]
        by_outcome: dict[tuple[bool | None, int], list[int]] = defaultdict(list)
        for resource, (is_compliant, findings) in zip(resources, verdicts, strict=True):
            by_outcome[(is_compliant, len(findings))].append(resource.pk)
        for (is_compliant, count), resource_ids in by_outcome.items():
            Resource.objects.filter(pk__in=resource_ids).update(
                is_compliant=is_compliant, violation_count=count
            )
        judge.replace_violations(
            [(r.pk, findings) for r, (_, findings) in zip(resources, verdicts, strict=True)]
        )


def _take_snapshots(scan: Scan, active_policy: policy.Policy, now: datetime) -> None:
    """Aggregate the whole current estate, per account, for trends filtered by permission.

    Exemptions active at ``now`` are applied, so a snapshot keeps the figures as they were shown
    when it was taken, even after those exemptions expire.
    """
    present = Resource.objects.filter(gone_since__isnull=True)
    rows: list[ComplianceSnapshot] = []
    dimensions = [
        (ComplianceSnapshot.Dimension.ACCOUNT, None),
        (ComplianceSnapshot.Dimension.REGION, "region"),
        (ComplianceSnapshot.Dimension.RESOURCE_TYPE, "resource_type"),
    ]
    type_counts: Counter[tuple[str, str]] = Counter()
    account_rows: dict[str, ComplianceSnapshot] = {}
    for dimension, field in dimensions:
        group = ["account__account_id"] + ([field] if field else [])
        for (account_id, *rest), counted in figures.count_resources(
            present, group, now=now
        ).items():
            key = rest[0] if rest else ""
            rows.append(
                ComplianceSnapshot(
                    scan=scan,
                    taken_at=now,
                    account_id=account_id,
                    dimension=dimension,
                    key=key,
                    total_resources=counted.total_resources,
                    in_scope=counted.in_scope_resources,
                    compliant=counted.compliant_resources,
                    violations=counted.violations,
                )
            )
            if dimension == ComplianceSnapshot.Dimension.ACCOUNT:
                account_rows[account_id] = rows[-1]
            if dimension == ComplianceSnapshot.Dimension.RESOURCE_TYPE:
                type_counts[(account_id, key)] = counted.total_resources

    # Per required tag: resources it applies to, and how many of those get it wrong.
    violating = {
        (row["resource__account__account_id"], row["tag_name"]): (row["resources"], row["n"])
        for row in Violation.objects.filter(resource__gone_since__isnull=True)
        .active(now)
        .values("resource__account__account_id", "tag_name")
        .annotate(resources=Count("resource_id", distinct=True), n=Count("id"))
        .order_by()
    }
    applies: Counter[tuple[str, str]] = Counter()
    for (account_id, resource_type), total in type_counts.items():
        for rule in policy.rules_for_type(active_policy, resource_type):
            applies[(account_id, rule.name)] += total
    for account_id, tag_name in sorted(applies.keys() | violating.keys()):
        bad_resources, n = violating.get((account_id, tag_name), (0, 0))
        in_scope = applies.get((account_id, tag_name), 0)
        rows.append(
            ComplianceSnapshot(
                scan=scan,
                taken_at=now,
                account_id=account_id,
                dimension=ComplianceSnapshot.Dimension.TAG_KEY,
                key=tag_name[:128],
                total_resources=in_scope,
                in_scope=in_scope,
                compliant=max(in_scope - bad_resources, 0),
                violations=n,
            )
        )
    rows.extend(_snapshot_money(scan, account_rows, now))
    ComplianceSnapshot.objects.bulk_create(rows, batch_size=CHUNK)


def _snapshot_money(
    scan: Scan, account_rows: dict[str, ComplianceSnapshot], now: datetime
) -> list[ComplianceSnapshot]:
    """Fill the ``account`` rows with each account's money in the latest billing period.

    One attribution of the whole estate (``selectors.cost_attribution``, so the figures are the
    ones every other view shows), split by account: an account the bill does not name gets
    zeros, a registered account with costs but no present resource gets an account row of its
    own (zero counts). Returns those extra rows. Nothing is filled when no costs are loaded.
    Accounts the inventory does not register (and charges of no account) are left out: history
    is read per registered account.
    """
    from compliance import selectors  # selectors imports this module

    attribution = selectors.cost_attribution(Operator())
    if attribution.cost_source is None or attribution.period_start is None:
        return []
    extra: list[ComplianceSnapshot] = []
    registered = set(
        AwsAccount.objects.filter(account_id__in=attribution.by_account.keys()).values_list(
            "account_id", flat=True
        )
    )
    for account_id in sorted(registered - account_rows.keys()):
        row = ComplianceSnapshot(
            scan=scan,
            taken_at=now,
            account_id=account_id,
            dimension=ComplianceSnapshot.Dimension.ACCOUNT,
            key="",
            total_resources=0,
            in_scope=0,
            compliant=0,
            violations=0,
        )
        account_rows[account_id] = row
        extra.append(row)
    for account_id, row in account_rows.items():
        split = attribution.by_account.get(account_id)
        row.billing_period_start = attribution.period_start.date()
        row.cost_source = attribution.cost_source
        row.total_spend = split.total if split else Decimal(0)
        row.attributable_spend = split.attributable if split else Decimal(0)
        row.attribution_gap = split.attribution_gap if split else Decimal(0)
        row.unattributable_spend = split.unattributable if split else Decimal(0)
        row.unmatched_resource_spend = split.unmatched_resource if split else Decimal(0)
    return extra


def scan_scope_filter(scan: Scan) -> Q:
    """The present resources a scan covered: its accounts, regions and types filters."""
    q = Q(gone_since__isnull=True)
    if scan.account_ids:
        q &= Q(account__account_id__in=scan.account_ids)
    else:
        q &= Q(account__enabled=True)
    if scan.regions:
        q &= Q(region__in=scan.regions)
    if scan.resource_types:
        q &= Q(resource_type__in=scan.resource_types)
    return q


def _scan_totals(scan: Scan, now: datetime) -> dict[str, int]:
    """The scan's own figures, with the exemptions active when it was finalised applied."""
    totals = figures.count_resources_total(
        Resource.objects.filter(scan_scope_filter(scan)), now=now
    )
    return {
        "total": totals.total_resources,
        "in_scope": totals.in_scope_resources,
        "compliant": totals.compliant_resources,
        "violations": totals.violations,
    }
