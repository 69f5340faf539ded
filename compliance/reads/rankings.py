"""The overview's rankings: where compliance is worst, and which violations cost the most.

Built only on the selectors' permission-filtered reads, so a ranking never holds an account,
a resource or an amount the viewer may not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef
from django.utils import timezone

from compliance.models import Violation
from compliance.permissions.accounts import Viewer
from compliance.reads import reports
from compliance.reads.money import cost_scope, resource_costs
from compliance.reads.resources import current_violations, present_resources
from compliance.reads.summary import Breakdown
from compliance.stored import costs as stored_costs

#: Rows of each "worst" ranking on the overview.
WORST_ROWS = 5
#: Violations in the overview's costliest list.
COSTLIEST_ROWS = 10


def worst(rows: list[Breakdown], limit: int = WORST_ROWS) -> list[Breakdown]:
    """Lowest compliance score first (most violations breaking ties); groups with nothing in
    scope have no score, so they are not ranked."""
    scored = [row for row in rows if row.compliance_score is not None]
    return sorted(scored, key=lambda row: (row.compliance_score, -row.violations, row.key))[:limit]


@dataclass(frozen=True, slots=True)
class CostlyViolation:
    """A violation with its resource's cost in the billing period (``cost_impact_monthly``)."""

    violation: Violation
    cost_impact_monthly: Decimal


def costliest_violations(
    viewer: Viewer, limit: int = COSTLIEST_ROWS, *, now: datetime | None = None
) -> list[CostlyViolation]:
    """The violations on the resources that cost the most in the latest billing period,
    costliest first (a resource's violations in the listing order). Only resources with a
    positive cost are ranked; empty when no costs are loaded."""
    now = now or timezone.now()
    violations = current_violations(viewer, now=now)
    violating = present_resources(viewer).filter(
        Exists(Violation.objects.filter(resource_id=OuterRef("pk")).active(now))
    )
    # The stored costs rank in the database; without them, every violating resource is costed.
    stored = stored_costs.costliest(cost_scope(viewer), violating, limit, now)
    if stored is not None:
        known = dict(stored)
    else:
        arns = set(violations.order_by().values_list("resource__arn", flat=True).distinct())
        known = {
            arn: cost
            for arn, cost in (resource_costs(viewer, arns) if arns else {}).items()
            if cost is not None and cost > 0
        }
    if not known:
        return []
    top = sorted(known, key=lambda arn: (-known[arn], arn))[:limit]
    listed = reports.ordered_violations(violations.filter(resource__arn__in=top))
    ranked = sorted(
        (CostlyViolation(v, known[v.resource.arn]) for v in listed),
        key=lambda row: -row.cost_impact_monthly,
    )
    return ranked[:limit]
