"""Compliance over time: the score, a tag key's coverage and the attribution per period, within
the caller's view; and the periods every history read shares.

Everything here reads rows a finalised scan wrote (``ComplianceSnapshot``), never live state
being collected, and narrows to the accounts the caller may see: a trend is the sum of the
per-account snapshot rows of the caller's accounts, so two callers with different grants get
different (and each correct) curves from the same scans.

Periods are calendar days, ISO weeks (starting Monday) or months in the project's time zone
(``TIME_ZONE``), and a period is represented by its LAST finished scan: a snapshot is the state
of the estate at one instant, so the last one is what the period ended with, and averaging scans
would invent a state that never existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from compliance.core import policy
from compliance.models import ComplianceSnapshot, Scan
from compliance.permissions.accounts import Viewer
from compliance.reads.resources import ResourceFilter, scoped_accounts

Granularity = Literal["day", "week", "month"]


GRANULARITIES: tuple[str, ...] = get_args(Granularity)


#: Scan ids per ``IN (...)`` query, well under SQLite's bound-parameter limit.
_ID_BATCH = 500


_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


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
    :func:`reads.cost_attribution`), summed over the viewer's accounts, exact. When no costs
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
