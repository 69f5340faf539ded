"""Tag drift between two finished scans: which tags were added, removed or changed on which
resources of the caller's accounts (``TagChange`` rows written at finalisation), paged by a
cursor of resource ids.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, QuerySet

from compliance.core import policy
from compliance.models import Resource, Scan, TagChange
from compliance.permissions.accounts import Viewer
from compliance.reads.policy import active_policy
from compliance.reads.resources import ResourceFilter, scoped_accounts, visible_resources
from compliance.reads.scans import latest_scan
from compliance.reads.trends import HistoryError, InvalidScanRange, UnknownScan

DEFAULT_DRIFT_LIMIT = 100


MAX_DRIFT_LIMIT = 1000


_CURSOR = re.compile(r"drift:(\d{1,18})")


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
        row = active_policy()
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
        scoped_accounts(viewer, where.account_ids)
    after = _decode_cursor(cursor) if cursor else 0
    to = _finished_scan(to_scan, "to_scan") if to_scan is not None else latest_scan()
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
        resource__in=visible_resources(viewer, where, include_gone=True)
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
