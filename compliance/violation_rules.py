"""Violations grouped by rule (a required tag key and a violation type), with the money at stake.

Counts come from :func:`selectors.current_violations` and :func:`selectors.exempted_violations`
with one ``now``, so an exempted violation is left out of every figure here exactly as
:mod:`compliance.figures` leaves it out, and shown apart. The money is each affected resource's
cost in the latest billing period, from :func:`selectors.resource_costs`: the same figure as the
report's ``cost_impact_monthly``, summed from the costs at stake stored with each resource's
cost (:mod:`compliance.resource_costs`) while they hold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet
from django.utils import timezone

from compliance import resource_costs, selectors
from compliance.access import Viewer
from compliance.models import Violation
from compliance.selectors import ResourceFilter

Rule = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RuleFigures:
    tag_name: str
    violation_type: str
    violations: int
    #: Resources breaking the rule (a resource counts once per rule).
    resources: int
    #: Violations of the rule an active exemption covers: counted in no figure above.
    exempted: int
    #: Monthly cost of the resources breaking the rule; ``None`` while no costs are loaded.
    cost_at_stake: Decimal | None


@dataclass(frozen=True, slots=True)
class RuleBreakdown:
    rules: list[RuleFigures]
    violations: int
    #: Resources with at least one violation that counts.
    affected_resources: int
    exempted_violations: int
    #: Monthly cost of the affected resources, each once; ``None`` while no costs are loaded.
    cost_at_stake: Decimal | None

    @property
    def costed(self) -> bool:
        return self.cost_at_stake is not None


def _narrowed(
    violations: QuerySet[Violation], violation_type: str, tag_name: str
) -> QuerySet[Violation]:
    if violation_type:
        violations = violations.filter(violation_type=violation_type)
    if tag_name:
        violations = violations.filter(tag_name=tag_name)
    return violations


def violations_by_rule(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    violation_type: str = "",
    tag_name: str = "",
    now: datetime | None = None,
) -> RuleBreakdown:
    """Every rule broken in the viewer's accounts, highest cost at stake first, then most
    violations (then by tag key and type, so the order is stable)."""
    now = now or timezone.now()
    active = _narrowed(
        selectors.current_violations(viewer, where, now=now), violation_type, tag_name
    )
    exempted = _narrowed(
        selectors.exempted_violations(viewer, where, now=now), violation_type, tag_name
    )
    counted = {
        (row["tag_name"], row["violation_type"]): row
        for row in active.values("tag_name", "violation_type")
        .annotate(n=Count("id"), resources=Count("resource_id", distinct=True))
        .order_by()
    }
    exempted_counts: dict[Rule, int] = {
        (row["tag_name"], row["violation_type"]): row["n"]
        for row in exempted.values("tag_name", "violation_type").annotate(n=Count("id")).order_by()
    }

    where = where or ResourceFilter()
    affected = active.order_by().values("resource_id").distinct().count()
    stored = resource_costs.rule_costs(
        selectors.cost_scope(viewer),
        where.account_ids or None,
        regions=where.regions,
        resource_types=where.resource_types,
        violation_type=violation_type,
        tag_name=tag_name,
        now=now,
    )
    money = _stored_money(stored, affected) if stored is not None else _live_money(viewer, active)
    rules = [
        RuleFigures(
            tag_name=rule[0],
            violation_type=rule[1],
            violations=counted[rule]["n"] if rule in counted else 0,
            resources=counted[rule]["resources"] if rule in counted else 0,
            exempted=exempted_counts.get(rule, 0),
            cost_at_stake=money.by_rule(rule),
        )
        for rule in set(counted) | set(exempted_counts)
    ]
    rules.sort(
        key=lambda r: (
            -(r.cost_at_stake or Decimal(0)),
            -r.violations,
            r.tag_name,
            r.violation_type,
        )
    )
    return RuleBreakdown(
        rules=rules,
        violations=sum(row["n"] for row in counted.values()),
        affected_resources=affected,
        exempted_violations=sum(exempted_counts.values()),
        cost_at_stake=money.total,
    )


@dataclass(frozen=True, slots=True)
class _Money:
    """The cost at stake per rule and in all, ``None`` while no costs are loaded."""

    rules: dict[Rule, Decimal]
    total: Decimal | None

    def by_rule(self, rule: Rule) -> Decimal | None:
        return None if self.total is None else self.rules.get(rule, Decimal(0))


def _stored_money(stored: resource_costs.RuleCosts, affected: int) -> _Money:
    """From the stored costs at stake; as :func:`_live_money`, uncosted with nothing affected."""
    if not (stored.costed and affected):
        return _Money({}, None)
    return _Money(stored.by_rule, stored.total)


def _live_money(viewer: Viewer, active: QuerySet[Violation]) -> _Money:
    """Each affected resource costed by :func:`selectors.resource_costs`, each once per rule."""
    arns_by_rule: dict[Rule, set[str]] = defaultdict(set)
    for tag, kind, arn in (
        active.values_list("tag_name", "violation_type", "resource__arn")
        .order_by("id")
        .iterator(chunk_size=5000)
    ):
        arns_by_rule[(tag, kind)].add(arn)
    affected = set().union(*arns_by_rule.values()) if arns_by_rule else set()
    costs = selectors.resource_costs(viewer, affected) if affected else {}
    known = {arn: cost for arn, cost in costs.items() if cost is not None}
    if not known:
        return _Money({}, None)

    def at_stake(arns: set[str]) -> Decimal:
        return sum((known.get(arn, Decimal(0)) for arn in arns), Decimal(0))

    return _Money({rule: at_stake(arns) for rule, arns in arns_by_rule.items()}, at_stake(affected))
