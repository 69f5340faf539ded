"""Violations over time: per period, how many violations of each kind the caller's accounts had,
and one resource's timeline of violations and tag changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Sum

from compliance.models import ComplianceSnapshot, TagChange
from compliance.permissions.accounts import Viewer
from compliance.reads.drift import TagChangeRecord, _record, _RequiredKeys
from compliance.reads.resources import (
    ResourceFilter,
    current_violations,
    resource_for,
)
from compliance.reads.trends import (
    _TRUNC,
    Granularity,
    _batches,
    _dimension_rows,
    _sum_per_scan,
    _visible_snapshots,
    period_scans,
    period_start,
)

#: A resource's timeline is short in practice; the cap keeps a pathological one bounded.
MAX_TIMELINE_CHANGES = 1000


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

    new = current_violations(viewer, where)
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
    resource = resource_for(viewer, arn)
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
