"""Compliance over time: trends, tag drift and violation history, all within the viewer's view.

Everything here reads rows a finalised scan wrote (``ComplianceSnapshot``, ``TagChange``,
``Violation``), never live state being collected, and narrows to the accounts the viewer may see
through :func:`selectors.scoped_accounts`, exactly like the selectors: a trend is the sum of the
per-account snapshot rows of the viewer's accounts, so two viewers with different grants get
different (and each correct) curves from the same scans.

Periods are calendar days, ISO weeks (starting Monday) or months in the project's time zone
(``TIME_ZONE``), and a period is represented by its LAST finished scan: a snapshot is the state
of the estate at one instant, so the last one is what the period ended with, and averaging scans
would invent a state that never existed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from compliance import policy, selectors
from compliance.access import Viewer
from compliance.models import ComplianceSnapshot, Resource, Scan, TagChange
from compliance.selectors import ResourceFilter, scoped_accounts

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)

DEFAULT_DRIFT_LIMIT = 100
MAX_DRIFT_LIMIT = 1000
#: A resource's timeline is short in practice; the cap keeps a pathological one bounded.
MAX_TIMELINE_CHANGES = 1000
#: Scan ids per ``IN (...)`` query, well under SQLite's bound-parameter limit.
_ID_BATCH = 500

_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
_CURSOR = re.compile(r"drift:(\d{1,18})")


class HistoryError(ValueError):
    """A history question that cannot be answered as asked; the message says what to change."""


class UnknownScan(HistoryError):
    """A scan id that does not exist or never finished (queued, running or failed scans hold no
    snapshot and no tag change)."""


class InvalidScanRange(HistoryError):
    """``from_scan`` is not before ``to_scan``."""


class UnsupportedFilter(HistoryError):
    """A filter the stored snapshots cannot answer: they are aggregated per account along one
    dimension at a time, so there is no region x resource type figure to sum."""


# --- Periods ------------------------------------------------------------------------------------


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """Start of the day, ISO week (Monday) or month holding ``moment``, in the project time zone
    (the same boundaries the database's ``Trunc`` functions use, so both sides agree)."""
    local = timezone.localtime(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return local
    if granularity == "week":
        return local - timedelta(days=local.weekday())
    return local.replace(day=1)


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise HistoryError(
            f"granularity: must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
        )


@dataclass(frozen=True, slots=True)
class PeriodScan:
    """The scan that stands for a period: the last one that finished in it."""

    period_start: datetime
    scan_id: int
    finished_at: datetime


def period_scans(
    granularity: Granularity = "day", since: datetime | None = None
) -> list[PeriodScan]:
    """The last finished scan of every period with at least one, oldest period first.

    This is the skeleton every trend hangs on. Scans are estate-wide records (no account data),
    so this needs no viewer; figures hung on it must still be filtered by account. The cost
    trend joins its per-period figures (cost lines of the period's billing month, or the
    attribution as of ``scan_id``) onto these same points, so compliance and cost curves share
    their x axis.
    """
    _check_granularity(granularity)
    scans = Scan.objects.filter(status__in=Scan.FINISHED, finished_at__isnull=False)
    if since is not None:
        scans = scans.filter(finished_at__gte=since)
    last: dict[datetime, PeriodScan] = {}
    for scan_id, finished_at in scans.order_by("finished_at", "id").values_list(
        "id", "finished_at"
    ):
        if finished_at is None:  # filtered out above; the type stubs cannot know
            continue
        start = period_start(finished_at, granularity)
        last[start] = PeriodScan(start, scan_id, finished_at)
    return list(last.values())


# --- Trends -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """The viewer's share of one period's last snapshot."""

    period_start: datetime
    scan_id: int
    finished_at: datetime
    total_resources: int
    in_scope: int
    compliant: int
    violations: int

    @property
    def compliance_score(self) -> float | None:
        return policy.compliance_score(self.compliant, self.in_scope)


def _visible_snapshots(viewer: Viewer, where: ResourceFilter) -> QuerySet[ComplianceSnapshot]:
    accounts = scoped_accounts(viewer, where.account_ids).values("account_id")
    return ComplianceSnapshot.objects.filter(account_id__in=accounts)


def _dimension_rows(viewer: Viewer, where: ResourceFilter) -> QuerySet[ComplianceSnapshot]:
    """The snapshot rows whose sum is the filtered total: ``region`` rows for a region filter,
    ``resource_type`` rows for a type filter, the ``account`` totals otherwise."""
    if where.regions and where.resource_types:
        raise UnsupportedFilter(
            "filter: a trend can be narrowed by region or by resource type, not both "
            "(snapshots keep one dimension at a time)"
        )
    rows = _visible_snapshots(viewer, where)
    if where.regions:
        return rows.filter(dimension=ComplianceSnapshot.Dimension.REGION, key__in=where.regions)
    if where.resource_types:
        return rows.filter(
            dimension=ComplianceSnapshot.Dimension.RESOURCE_TYPE, key__in=where.resource_types
        )
    return rows.filter(dimension=ComplianceSnapshot.Dimension.ACCOUNT, key="")


def _batches(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _ID_BATCH):
        yield ids[start : start + _ID_BATCH]


def _sum_per_scan(
    rows: QuerySet[ComplianceSnapshot], scan_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    sums: dict[int, dict[str, int]] = {}
    for batch in _batches(scan_ids):
        for row in (
            rows.filter(scan_id__in=batch)
            .values("scan_id")
            .annotate(
                total=Sum("total_resources"),
                in_scope=Sum("in_scope"),
                compliant=Sum("compliant"),
                violations=Sum("violations"),
            )
            .order_by()
        ):
            sums[row["scan_id"]] = row
    return sums


def _points(periods: list[PeriodScan], rows: QuerySet[ComplianceSnapshot]) -> list[TrendPoint]:
    """One point per period; a scan with no row for the viewer's accounts (none of their
    resources existed then) is a point of zeros, not a gap, so the x axis is the same for all."""
    sums = _sum_per_scan(rows, [p.scan_id for p in periods])
    points = []
    for period in periods:
        row = sums.get(period.scan_id, {})
        points.append(
            TrendPoint(
                period_start=period.period_start,
                scan_id=period.scan_id,
                finished_at=period.finished_at,
                total_resources=row.get("total") or 0,
                in_scope=row.get("in_scope") or 0,
                compliant=row.get("compliant") or 0,
                violations=row.get("violations") or 0,
            )
        )
    return points


def compliance_trend(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    granularity: Granularity = "day",
    since: datetime | None = None,
) -> list[TrendPoint]:
    """Compliance per period, as of each period's last finished scan, summed over the accounts
    the viewer may see (and the filter's accounts, regions or resource types)."""
    rows = _dimension_rows(viewer, where or ResourceFilter())
    return _points(period_scans(granularity, since), rows)


def tag_key_trend(
    viewer: Viewer,
    tag_key: str,
    where: ResourceFilter | None = None,
    *,
    granularity: Granularity = "day",
    since: datetime | None = None,
) -> list[TrendPoint]:
    """One required tag per period: ``in_scope`` (= ``total_resources``) counts the resources
    the tag applied to, ``compliant`` those where it was right, ``violations`` its violations.

    A period whose scan judged no resource by this tag (the policy did not require it then, or
    it applied to none of the viewer's resources) has zeros and a ``None`` score.
    """
    where = where or ResourceFilter()
    if where.regions or where.resource_types:
        raise UnsupportedFilter(
            "filter: a tag key trend can be narrowed by account only "
            "(tag key snapshots are kept per account)"
        )
    if not tag_key:
        raise HistoryError("tag_key: must not be empty")
    rows = _visible_snapshots(viewer, where).filter(
        dimension=ComplianceSnapshot.Dimension.TAG_KEY, key=tag_key
    )
    return _points(period_scans(granularity, since), rows)


@dataclass(frozen=True, slots=True)
class AttributionPoint:
    """The viewer's money as of one period's last finished scan.

    The figures are those of the latest billing period loaded when that scan was finalised
    (``billing_period_start``; ``cost_source`` ``focus``, ``cur`` or ``estimate`` as in
    :func:`selectors.cost_attribution`), summed over the viewer's accounts, exact. When no costs
    were loaded then, ``cost_source``, ``billing_period_start`` and every amount are ``None``
    (unknown, not zero).
    """

    period_start: datetime
    scan_id: int
    finished_at: datetime
    billing_period_start: date | None
    cost_source: str | None
    total_spend: Decimal | None
    attributable_spend: Decimal | None
    attribution_gap: Decimal | None
    unattributable_spend: Decimal | None
    unmatched_resource_spend: Decimal | None


_MONEY_FIELDS = (
    "total_spend",
    "attributable_spend",
    "attribution_gap",
    "unattributable_spend",
    "unmatched_resource_spend",
)


def attribution_trend(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    granularity: Granularity = "month",
    since: datetime | None = None,
) -> list[AttributionPoint]:
    """Total, attributable, gap, unattributable and unmatched spend per period, as each
    period's last finished scan recorded it, summed over the accounts the viewer may see (and
    the filter's accounts).

    Money is stored per account only, so region and resource type filters are refused. Sums
    are made in Python over the per-account rows, so they stay exact on every database.
    """
    where = where or ResourceFilter()
    if where.regions or where.resource_types:
        raise UnsupportedFilter(
            "filter: an attribution trend can be narrowed by account only "
            "(money snapshots are kept per account)"
        )
    periods = period_scans(granularity, since)
    scan_ids = [p.scan_id for p in periods]
    account_rows = ComplianceSnapshot.objects.filter(
        dimension=ComplianceSnapshot.Dimension.ACCOUNT, key=""
    )
    # Which bill a scan used is estate-wide (every account row of the scan says the same), so a
    # viewer with no row in a scan that had costs gets zeros, not "unknown".
    billing: dict[int, tuple[date, str]] = {}
    money: dict[int, list[Decimal]] = {}
    visible = _visible_snapshots(viewer, where).filter(
        dimension=ComplianceSnapshot.Dimension.ACCOUNT, key=""
    )
    for batch in _batches(scan_ids):
        for scan_id, start, source in (
            account_rows.filter(scan_id__in=batch, billing_period_start__isnull=False)
            .values_list("scan_id", "billing_period_start", "cost_source")
            .distinct()
            .order_by()
        ):
            if start is not None:
                billing[scan_id] = (start, source)
        for scan_id, *row in visible.filter(
            scan_id__in=batch, billing_period_start__isnull=False
        ).values_list("scan_id", *_MONEY_FIELDS):
            sums = money.setdefault(scan_id, [Decimal(0)] * len(_MONEY_FIELDS))
            for i, amount in enumerate(row):
                sums[i] += amount or Decimal(0)
    points = []
    for period in periods:
        bill = billing.get(period.scan_id)
        amounts: list[Decimal | None] = (
            list(money.get(period.scan_id, [Decimal(0)] * len(_MONEY_FIELDS)))
            if bill
            else [None] * len(_MONEY_FIELDS)
        )
        points.append(
            AttributionPoint(
                period_start=period.period_start,
                scan_id=period.scan_id,
                finished_at=period.finished_at,
                billing_period_start=bill[0] if bill else None,
                cost_source=bill[1] if bill else None,
                total_spend=amounts[0],
                attributable_spend=amounts[1],
                attribution_gap=amounts[2],
                unattributable_spend=amounts[3],
                unmatched_resource_spend=amounts[4],
            )
        )
    return points


# --- Drift --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagChangeRecord:
    """One key added, removed or changed, as the scan ``scan_id`` observed it."""

    key: str
    kind: str
    old_value: str | None
    new_value: str | None
    observed_at: datetime
    scan_id: int
    #: The key is a required tag of the active policy for this resource's type (compared
    #: ignoring letter case: renaming ``owner`` to ``Owner`` fixes a violation, so it matters).
    required: bool


@dataclass(frozen=True, slots=True)
class ResourceDrift:
    arn: str
    account_id: str
    region: str
    resource_type: str
    name: str
    changes: list[TagChangeRecord]

    @property
    def touches_required(self) -> bool:
        return any(change.required for change in self.changes)


@dataclass(frozen=True, slots=True)
class DriftSummary:
    """Counts over the whole range (every page), not just the page returned."""

    resources: int
    changes: int
    required_changes: int
    by_kind: dict[str, int] = field(default_factory=dict)
    by_key: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TagDrift:
    #: Changes recorded by scans with ``from_scan_id < scan id <= to_scan_id``; ``None`` for
    #: ``from_scan_id`` means from the first scan (or from ``since``).
    from_scan_id: int | None
    to_scan_id: int | None
    since: datetime | None
    resources: list[ResourceDrift]
    summary: DriftSummary
    next_cursor: str | None


class _RequiredKeys:
    """Which keys the active policy requires per resource type, computed once per type."""

    def __init__(self) -> None:
        row = selectors.active_policy()
        self._policy = policy.policy_from_dict(row.document) if row else None
        self._by_type: dict[str, frozenset[str]] = {}

    def __call__(self, resource_type: str, key: str) -> bool:
        if self._policy is None:
            return False
        keys = self._by_type.get(resource_type)
        if keys is None:
            rules = policy.rules_for_type(self._policy, resource_type)
            keys = frozenset(rule.name.casefold() for rule in rules)
            self._by_type[resource_type] = keys
        return key.casefold() in keys


def _finished_scan(scan_id: int, argument: str) -> Scan:
    scan = Scan.objects.filter(pk=scan_id, status__in=Scan.FINISHED).first()
    if scan is None:
        raise UnknownScan(f"{argument}: scan #{scan_id} does not exist or did not finish")
    return scan


def _previous_scan(scan: Scan) -> Scan | None:
    return (
        Scan.objects.filter(status__in=Scan.FINISHED, pk__lt=scan.pk)
        .order_by("-finished_at", "-id")
        .first()
    )


def _encode_cursor(resource_id: int) -> str:
    return base64.urlsafe_b64encode(f"drift:{resource_id}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        match = _CURSOR.fullmatch(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (binascii.Error, UnicodeError, ValueError):
        match = None
    if match is None:
        raise HistoryError("cursor: not a cursor this call returned")
    return int(match.group(1))


def tag_drift(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    from_scan: int | None = None,
    to_scan: int | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_DRIFT_LIMIT,
    cursor: str | None = None,
) -> TagDrift:
    """Per resource, the tag keys added, removed and changed between two scans.

    Default range: from the finished scan before ``to_scan`` (default: the latest) to
    ``to_scan``, i.e. "what changed at the last scan". With ``since`` and no ``from_scan``, the
    range is every change observed at or after ``since`` up to ``to_scan``. Pages hold
    ``limit`` resources, ordered by resource; each resource comes with all its changes in
    the range, oldest first.
    """
    if not 1 <= limit <= MAX_DRIFT_LIMIT:
        raise HistoryError(f"limit: must be between 1 and {MAX_DRIFT_LIMIT}, got {limit}")
    if where is not None:
        # Refuse an account the viewer may not see, also before there is any scan to compare.
        selectors.scoped_accounts(viewer, where.account_ids)
    after = _decode_cursor(cursor) if cursor else 0
    to = _finished_scan(to_scan, "to_scan") if to_scan is not None else selectors.latest_scan()
    start = _finished_scan(from_scan, "from_scan") if from_scan is not None else None
    if to is None:
        empty = DriftSummary(resources=0, changes=0, required_changes=0)
        return TagDrift(from_scan, None, since, [], empty, None)
    if start is not None and start.pk >= to.pk:
        raise InvalidScanRange(
            f"from_scan: scan #{start.pk} is not before to_scan #{to.pk} "
            "(drift runs from an older scan to a newer one)"
        )
    if start is None and since is None:
        start = _previous_scan(to)

    changes = TagChange.objects.filter(
        resource__in=selectors.visible_resources(viewer, where, include_gone=True)
    )
    changes = changes.filter(scan_id__lte=to.pk)
    if start is not None:
        changes = changes.filter(scan_id__gt=start.pk)
    if since is not None:
        changes = changes.filter(observed_at__gte=since)

    is_required = _RequiredKeys()
    page_ids = list(
        changes.filter(resource_id__gt=after)
        .order_by("resource_id")
        .values_list("resource_id", flat=True)
        .distinct()[: limit + 1]
    )
    next_cursor = _encode_cursor(page_ids[limit - 1]) if len(page_ids) > limit else None
    page_ids = page_ids[:limit]
    by_resource: dict[int, list[TagChangeRecord]] = defaultdict(list)
    resources: dict[int, Resource] = {}
    for change in (
        changes.filter(resource_id__in=page_ids)
        .select_related("resource__account")
        .order_by("resource_id", "observed_at", "scan_id", "key")
    ):
        resources[change.resource_id] = change.resource
        by_resource[change.resource_id].append(
            _record(change, is_required(change.resource.resource_type, change.key))
        )
    page = [
        ResourceDrift(
            arn=resource.arn,
            account_id=resource.account.account_id,
            region=resource.region,
            resource_type=resource.resource_type,
            name=resource.name,
            changes=by_resource[resource_id],
        )
        for resource_id, resource in resources.items()
    ]
    return TagDrift(
        from_scan_id=start.pk if start else None,
        to_scan_id=to.pk,
        since=since,
        resources=page,
        summary=_drift_summary(changes, is_required),
        next_cursor=next_cursor,
    )


def _record(change: TagChange, required: bool) -> TagChangeRecord:
    return TagChangeRecord(
        key=change.key,
        kind=change.kind,
        old_value=change.old_value,
        new_value=change.new_value,
        observed_at=change.observed_at,
        scan_id=change.scan_id,
        required=required,
    )


def _drift_summary(changes: QuerySet[TagChange], is_required: _RequiredKeys) -> DriftSummary:
    """Grouped in the database: one row per (kind, key, resource type), however many changes."""
    by_kind: dict[str, int] = defaultdict(int)
    by_key: dict[str, int] = defaultdict(int)
    total = required = 0
    for row in (
        changes.values("kind", "key", "resource__resource_type").annotate(n=Count("id")).order_by()
    ):
        n = row["n"]
        total += n
        by_kind[row["kind"]] += n
        by_key[row["key"]] += n
        if is_required(row["resource__resource_type"], row["key"]):
            required += n
    return DriftSummary(
        resources=changes.values("resource_id").distinct().count(),
        changes=total,
        required_changes=required,
        by_kind=dict(sorted(by_kind.items())),
        by_key=dict(sorted(by_key.items())),
    )


# --- Violation history --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViolationPeriod:
    """Violations in one period. Two different questions, answered from two sources:

    - ``scan_id``, ``violations``, ``violations_by_tag``: violations OPEN at the end of the
      period, i.e. as the period's last finished scan counted them (snapshots). ``None`` when
      no scan finished in the period. ``violations_by_tag`` is ``None`` under a region or
      resource type filter, which tag key snapshots (kept per account) cannot answer.
    - ``new_violations``, ``new_by_type``, ``new_by_tag``: violations open TODAY whose
      ``first_detected_at`` falls in the period. A violation fixed since is no longer stored,
      so it is not counted here (it is in the snapshot totals of its periods); a violation
      that went away and came back counts from its latest detection.
    """

    period_start: datetime
    scan_id: int | None
    violations: int | None
    violations_by_tag: dict[str, int] | None
    new_violations: int
    new_by_type: dict[str, int]
    new_by_tag: dict[str, int]


def violation_history(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    granularity: Granularity = "day",
    since: datetime | None = None,
) -> list[ViolationPeriod]:
    """Violations per period, oldest first: every period with a finished scan or with a
    currently open violation first detected in it."""
    where = where or ResourceFilter()
    periods = period_scans(granularity, since)
    scan_ids = [p.scan_id for p in periods]
    totals = _sum_per_scan(_dimension_rows(viewer, where), scan_ids)
    by_tag: dict[int, dict[str, int]] | None = None
    if not (where.regions or where.resource_types):
        by_tag = defaultdict(dict)
        tag_rows = _visible_snapshots(viewer, where).filter(
            dimension=ComplianceSnapshot.Dimension.TAG_KEY
        )
        for batch in _batches(scan_ids):
            for row in (
                tag_rows.filter(scan_id__in=batch, violations__gt=0)
                .values("scan_id", "key")
                .annotate(n=Sum("violations"))
                .order_by("key")
            ):
                by_tag[row["scan_id"]][row["key"]] = row["n"]

    new = selectors.current_violations(viewer, where)
    if since is not None:
        new = new.filter(first_detected_at__gte=since)
    new_by_type: dict[datetime, dict[str, int]] = defaultdict(dict)
    new_by_tag: dict[datetime, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        new.annotate(period=_TRUNC[granularity]("first_detected_at"))
        .values("period", "violation_type", "tag_name")
        .annotate(n=Count("id"))
        .order_by("violation_type", "tag_name")
    ):
        start = period_start(row["period"], granularity)
        type_counts = new_by_type[start]
        type_counts[row["violation_type"]] = type_counts.get(row["violation_type"], 0) + row["n"]
        new_by_tag[start][row["tag_name"]] += row["n"]

    scan_of = {p.period_start: p.scan_id for p in periods}
    history = []
    for start in sorted(scan_of.keys() | new_by_type.keys()):
        scan_id = scan_of.get(start)
        total = totals.get(scan_id, {}) if scan_id is not None else None
        history.append(
            ViolationPeriod(
                period_start=start,
                scan_id=scan_id,
                violations=None if total is None else total.get("violations") or 0,
                violations_by_tag=(
                    None
                    if by_tag is None or scan_id is None
                    else dict(sorted(by_tag.get(scan_id, {}).items()))
                ),
                new_violations=sum(new_by_type.get(start, {}).values()),
                new_by_type=dict(sorted(new_by_type.get(start, {}).items())),
                new_by_tag=dict(sorted(new_by_tag.get(start, {}).items())),
            )
        )
    return history


@dataclass(frozen=True, slots=True)
class OpenViolation:
    violation_type: str
    tag_name: str
    current_value: str | None
    expected: str
    first_detected_at: datetime
    policy_version: int


@dataclass(frozen=True, slots=True)
class ResourceHistory:
    arn: str
    account_id: str
    region: str
    resource_type: str
    name: str
    first_seen_at: datetime
    gone_since: datetime | None
    #: Oldest first; at most ``MAX_TIMELINE_CHANGES`` (the most recent ones).
    tag_changes: list[TagChangeRecord]
    violations: list[OpenViolation]


def resource_violation_history(viewer: Viewer, arn: str) -> ResourceHistory:
    """One resource's tag timeline and its open violations with when each was first found."""
    resource = selectors.resource_for(viewer, arn)
    is_required = _RequiredKeys()
    recent = list(
        TagChange.objects.filter(resource=resource).order_by("-observed_at", "-scan_id", "key")[
            :MAX_TIMELINE_CHANGES
        ]
    )
    recent.sort(key=lambda c: (c.observed_at, c.scan_id, c.key))
    return ResourceHistory(
        arn=resource.arn,
        account_id=resource.account.account_id,
        region=resource.region,
        resource_type=resource.resource_type,
        name=resource.name,
        first_seen_at=resource.first_seen_at,
        gone_since=resource.gone_since,
        tag_changes=[_record(c, is_required(resource.resource_type, c.key)) for c in recent],
        violations=[
            OpenViolation(
                violation_type=v.violation_type,
                tag_name=v.tag_name,
                current_value=v.current_value,
                expected=v.expected,
                first_detected_at=v.first_detected_at,
                policy_version=v.policy.version,
            )
            for v in resource.violations.select_related("policy").order_by(
                "first_detected_at", "tag_name", "violation_type"
            )
        ],
    )
