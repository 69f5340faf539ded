"""Every read: the dashboard, the MCP tools and the commands call these, never the ORM directly.

Each selector takes the viewer first and narrows to the accounts that viewer may see, so a
figure is the same wherever it is shown and no interface can forget the grants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from compliance import policy
from compliance.access import Viewer, visible_accounts
from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy, Violation
from compliance.scans import describe_failure


class AccountNotVisible(PermissionError):
    """The viewer asked for an account that does not exist or that they may not see.

    Both cases get the same message, so a viewer cannot probe which account ids exist.
    """


@dataclass(frozen=True, slots=True)
class ResourceFilter:
    account_ids: Sequence[str] = ()
    regions: Sequence[str] = ()
    resource_types: Sequence[str] = ()


def scoped_accounts(viewer: Viewer, account_ids: Sequence[str] = ()) -> QuerySet[AwsAccount]:
    accounts = visible_accounts(viewer)
    if not account_ids:
        return accounts
    wanted = set(account_ids)
    found = set(accounts.filter(account_id__in=wanted).values_list("account_id", flat=True))
    if found != wanted:
        missing = ", ".join(sorted(wanted - found))
        raise AccountNotVisible(f"account: not found or not visible to you: {missing}")
    return accounts.filter(account_id__in=wanted)


def present_resources(viewer: Viewer, where: ResourceFilter | None = None) -> QuerySet[Resource]:
    """Resources as of the last finished scan (gone ones left out), within the viewer's view."""
    where = where or ResourceFilter()
    resources = Resource.objects.filter(
        account__in=scoped_accounts(viewer, where.account_ids), gone_since__isnull=True
    )
    if where.regions:
        resources = resources.filter(region__in=where.regions)
    if where.resource_types:
        resources = resources.filter(resource_type__in=where.resource_types)
    return resources


def current_violations(viewer: Viewer, where: ResourceFilter | None = None) -> QuerySet[Violation]:
    return Violation.objects.filter(resource__in=present_resources(viewer, where))


def latest_scan() -> Scan | None:
    """The last finished (complete or partial) scan: what every answer is based on."""
    return Scan.objects.filter(status__in=Scan.FINISHED).order_by("-finished_at", "-id").first()


def active_policy() -> TaggingPolicy | None:
    return TaggingPolicy.objects.filter(is_active=True).first()


def scan_block(scan: Scan | None, viewer: Viewer) -> dict[str, Any] | None:
    """Which scan an answer comes from, how fresh, and what it could not read.

    Failures are listed only for accounts the viewer may see.
    """
    if scan is None:
        return None
    visible = set(visible_accounts(viewer).values_list("account_id", flat=True))
    failed = [
        describe_failure(outcome)
        for outcome in scan.outcomes
        if outcome["status"] != "ok" and outcome["account_id"] in visible
    ]
    return {
        "id": scan.pk,
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        "data_quality": scan.data_quality,
        "failed": failed,
    }


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

    @property
    def compliance_score(self) -> float | None:
        return policy.compliance_score(self.compliant_resources, self.in_scope_resources)


_COUNTS = {
    "total": Count("id"),
    "in_scope": Count("id", filter=Q(is_compliant__isnull=False)),
    "compliant": Count("id", filter=Q(is_compliant=True)),
    "violations": Sum("violation_count"),
}


def _breakdown(resources: QuerySet[Resource], group: str) -> list[Breakdown]:
    return [
        Breakdown(
            key=row[group],
            total_resources=row["total"],
            in_scope_resources=row["in_scope"],
            compliant_resources=row["compliant"],
            violations=row["violations"] or 0,
        )
        for row in resources.values(group).annotate(**_COUNTS).order_by(group)
    ]


def compliance_summary(viewer: Viewer, where: ResourceFilter | None = None) -> ComplianceSummary:
    resources = present_resources(viewer, where)
    totals = resources.aggregate(**_COUNTS)
    violations = Violation.objects.filter(resource__in=resources)
    return ComplianceSummary(
        total_resources=totals["total"] or 0,
        in_scope_resources=totals["in_scope"] or 0,
        compliant_resources=totals["compliant"] or 0,
        violation_count=totals["violations"] or 0,
        scan=latest_scan(),
        by_type=_breakdown(resources, "resource_type"),
        by_region=_breakdown(resources, "region"),
        by_account=_breakdown(resources, "account__account_id"),
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
    )


def scans(viewer: Viewer, limit: int = 50) -> QuerySet[Scan]:
    """Scan history. Scans are estate-wide records; per-account failures are filtered in
    :func:`scan_block`."""
    return Scan.objects.order_by("-id")[:limit]
