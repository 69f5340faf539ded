"""The compliance figures counted in SQL: resources, in scope, compliant, violations.

The dashboard, the MCP tools, the report, the scan totals and the per-scan snapshots all count
here, so an exempted violation is left out of every figure the same way. What the figures mean
is :func:`compliance.core.policy.is_compliant` and :func:`~compliance.core.policy.count_compliance`:
a resource is in scope when the policy judged it (``is_compliant`` not null) and compliant when
it is in scope and has no violation that an active exemption does not cover. The conditions
below say that in SQL; ``tests/compliance/test_figure_properties.py`` holds them equal.

When no exemption is active (the common case) the counts come straight from the columns the scan
wrote (``is_compliant``, ``violation_count``): one aggregate over resources. When some are, the
compliant count checks each non-compliant resource for an uncovered violation, and violations are
counted from the violations table with the covered ones left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from compliance.core import policy
from compliance.models import Resource, Violation
from compliance.models.exemptions import exemptions_apply, still_violating

Figures = policy.ComplianceCounts


def compliant_condition(now: datetime, exempting: bool) -> Q:
    """For a resource query: compliant at ``now`` (``exempting``: some exemption is active).

    The scan wrote ``is_compliant`` as if no violation were exempted; with exemptions active a
    non-compliant resource whose every violation is covered is compliant too.
    """
    if not exempting:
        return Q(is_compliant=True)
    return Q(is_compliant=True) | (Q(is_compliant=False) & ~Q(still_violating(now)))


def noncompliant_condition(now: datetime, exempting: bool) -> Q:
    """For a resource query: in scope and not compliant at ``now``."""
    if not exempting:
        return Q(is_compliant=False)
    return Q(is_compliant=False) & Q(still_violating(now))


def count_resources(
    resources: QuerySet[Resource], group: Sequence[str] = (), *, now: datetime
) -> dict[tuple[Any, ...], Figures]:
    """Figures of ``resources`` per value of the ``group`` fields (one ``()`` key when none),
    with the exemptions active at ``now`` applied."""
    exempting = exemptions_apply(now)
    counts: dict[str, Any] = {
        "total": Count("id"),
        "in_scope": Count("id", filter=Q(is_compliant__isnull=False)),
    }
    counts["compliant"] = Count("id", filter=compliant_condition(now, exempting))
    if not exempting:
        counts["violations"] = Sum("violation_count")

    if group:
        rows = {
            tuple(row[name] for name in group): row
            for row in resources.values(*group).annotate(**counts).order_by(*group)
        }
    else:
        rows = {(): resources.aggregate(**counts)}

    if exempting:
        violations = Violation.objects.filter(resource__in=resources).active(now)
        paths = [f"resource__{name}" for name in group]
        if group:
            active = {
                tuple(row[path] for path in paths): row["n"]
                for row in violations.values(*paths).annotate(n=Count("id")).order_by()
            }
        else:
            active = {(): violations.count()}
        for key, row in rows.items():
            row["violations"] = active.get(key, 0)

    return {
        key: Figures(
            total_resources=row["total"] or 0,
            in_scope_resources=row["in_scope"] or 0,
            compliant_resources=row["compliant"] or 0,
            violations=row["violations"] or 0,
        )
        for key, row in rows.items()
    }


def count_resources_total(resources: QuerySet[Resource], *, now: datetime) -> Figures:
    return count_resources(resources, now=now)[()]
