"""The compliance summary (resources, in scope, compliant, violations, score) for one caller,
overall and broken down by account, region, type and rule: from the figures stored with the
scan while they hold, counted live otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, QuerySet
from django.utils import timezone

from compliance.core import policy
from compliance.models import (
    Resource,
    Scan,
    Violation,
)
from compliance.permissions.accounts import (
    Viewer,
)
from compliance.reads import compliance_counts as figures
from compliance.reads.resources import (
    ResourceFilter,
    present_resources,
    scoped_accounts,
)
from compliance.reads.scans import latest_scan
from compliance.stored import summary as stored_figures


@dataclass(frozen=True, slots=True)
class Breakdown:
    key: str
    total_resources: int
    in_scope_resources: int
    compliant_resources: int
    violations: int

    @property
    def compliance_score(self) -> float | None:
        return policy.compliance_score(self.compliant_resources, self.in_scope_resources)


@dataclass(frozen=True, slots=True)
class ComplianceSummary:
    total_resources: int
    in_scope_resources: int
    compliant_resources: int
    violation_count: int
    scan: Scan | None
    by_type: list[Breakdown] = field(default_factory=list)
    by_region: list[Breakdown] = field(default_factory=list)
    by_account: list[Breakdown] = field(default_factory=list)
    by_violation_type: dict[str, int] = field(default_factory=dict)
    by_tag: dict[str, int] = field(default_factory=dict)
    #: Violations an active exemption covers: shown apart, counted in no figure above.
    exempted_violation_count: int = 0

    @property
    def compliance_score(self) -> float | None:
        return policy.compliance_score(self.compliant_resources, self.in_scope_resources)


def _breakdown(resources: QuerySet[Resource], group: str, now: datetime) -> list[Breakdown]:
    counted = figures.count_resources(resources, [group], now=now)
    return _breakdowns((key, figure) for (key,), figure in counted.items())


def _breakdowns(counted: Iterable[tuple[str, figures.Figures]]) -> list[Breakdown]:
    return [
        Breakdown(
            key=key,
            total_resources=figure.total_resources,
            in_scope_resources=figure.in_scope_resources,
            compliant_resources=figure.compliant_resources,
            violations=figure.violations,
        )
        for key, figure in counted
    ]


def compliance_summary(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> ComplianceSummary:
    """Every figure of the dashboard and the report, exemptions active at ``now`` applied.

    Answered from the figures stored when the latest scan was finalised while they still hold
    (see :mod:`compliance.stored.summary`); counted from the current rows otherwise, and for a
    region or resource type filter, which figures stored per account along one dimension at a
    time cannot answer. Both give the same figures.
    """
    now = now or timezone.now()
    where = where or ResourceFilter()
    scan = latest_scan()
    if scan is not None and not (where.regions or where.resource_types):
        stored = _stored_summary(viewer, where.account_ids, scan, now)
        if stored is not None:
            return stored
    return _live_summary(viewer, where, scan, now)


def stored_figure_accounts(
    viewer: Viewer, account_ids: Sequence[str], taken_at: datetime | None
) -> list[str] | None:
    """The viewer's accounts (narrowed to ``account_ids``, refused as :func:`scoped_accounts`
    refuses) when figures stored at ``taken_at`` hold for each of them; ``None`` when they do
    not (or none were stored: ``taken_at`` ``None``), and the answer must be counted live."""
    accounts = scoped_accounts(viewer, account_ids)
    if taken_at is None:
        return None
    shown = []
    for account_id, registered_at in accounts.values_list("account_id", "created_at"):
        # Registered (again) since: the stored rows under its id are not its resources.
        if registered_at > taken_at:
            return None
        shown.append(account_id)
    return shown


def _stored_summary(
    viewer: Viewer, account_ids: Sequence[str], scan: Scan, now: datetime
) -> ComplianceSummary | None:
    shown = stored_figure_accounts(viewer, account_ids, stored_figures.stored_at(scan, now))
    if shown is None:
        return None
    stored = stored_figures.stored_summary(scan, shown)
    return ComplianceSummary(
        total_resources=stored.totals.total_resources,
        in_scope_resources=stored.totals.in_scope_resources,
        compliant_resources=stored.totals.compliant_resources,
        violation_count=stored.totals.violations,
        scan=scan,
        by_type=_breakdowns(stored.by_type),
        by_region=_breakdowns(stored.by_region),
        by_account=_breakdowns(stored.by_account),
        by_violation_type=stored.by_violation_type,
        by_tag=stored.by_tag,
        exempted_violation_count=stored.exempted,
    )


def _live_summary(
    viewer: Viewer, where: ResourceFilter, scan: Scan | None, now: datetime
) -> ComplianceSummary:
    resources = present_resources(viewer, where)
    totals = figures.count_resources_total(resources, now=now)
    present = Violation.objects.filter(resource__in=resources)
    violations = present.active(now)
    return ComplianceSummary(
        total_resources=totals.total_resources,
        in_scope_resources=totals.in_scope_resources,
        compliant_resources=totals.compliant_resources,
        violation_count=totals.violations,
        scan=scan,
        by_type=_breakdown(resources, "resource_type", now),
        by_region=_breakdown(resources, "region", now),
        by_account=_breakdown(resources, "account__account_id", now),
        by_violation_type={
            row["violation_type"]: row["n"]
            for row in violations.values("violation_type")
            .annotate(n=Count("id"))
            .order_by("violation_type")
        },
        by_tag={
            row["tag_name"]: row["n"]
            for row in violations.values("tag_name").annotate(n=Count("id")).order_by("tag_name")
        },
        exempted_violation_count=present.exempted(now).count(),
    )
