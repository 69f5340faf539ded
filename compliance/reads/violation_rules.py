"""Violations grouped by rule (a required tag key and a violation type), with the money at stake.

Counts come from :func:`current_violations` and :func:`exempted_violations` with one ``now``,
so an exempted violation is left out of every figure here exactly as
:mod:`compliance.reads.compliance_counts` leaves it out, and shown apart; or, while they hold,
from the same counts stored per account for the latest scan (``RuleSnapshot``), so the page
reads no violation. The money is each affected resource's cost in the latest billing period, from
:func:`resource_costs`: the same figure as the report's ``cost_impact_monthly``,
summed from the costs at stake stored with each resource's cost
(:mod:`compliance.stored.costs`) while they hold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from compliance.models import RuleSnapshot, Violation
from compliance.permissions.accounts import Viewer
from compliance.reads.money import cost_scope, resource_costs
from compliance.reads.resources import ResourceFilter, current_violations, exempted_violations
from compliance.reads.scans import latest_scan
from compliance.reads.summary import stored_figure_accounts
from compliance.stored import costs as stored_costs
from compliance.stored import summary as stored_figures

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


@dataclass(frozen=True, slots=True)
class _Counts:
    """Per rule, the violations that count and the resources breaking it (rules with any);
    per rule, the exempted violations (rules with any); the resources with any violation."""

    active: dict[Rule, tuple[int, int]]
    exempted: dict[Rule, int]
    affected: int


def violations_by_rule(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    *,
    violation_type: str = "",
    tag_name: str = "",
    now: datetime | None = None,
) -> RuleBreakdown:
    """Every rule broken in the viewer's accounts, highest cost at stake first, then most
    violations (then by tag key and type, so the order is stable).

    Counted from the figures stored for the latest scan while they hold (see
    :mod:`compliance.stored.summary`), from the current rows otherwise and for a region or
    resource type filter; both give the same figures."""
    now = now or timezone.now()
    where = where or ResourceFilter()
    counts = _stored_counts(viewer, where, violation_type, tag_name, now)
    if counts is None:
        counts = _live_counts(viewer, where, violation_type, tag_name, now)
    stored = stored_costs.rule_costs(
        cost_scope(viewer),
        where.account_ids or None,
        regions=where.regions,
        resource_types=where.resource_types,
        violation_type=violation_type,
        tag_name=tag_name,
        now=now,
    )
    money = (
        _stored_money(stored, counts.affected)
        if stored is not None
        else _live_money(viewer, _active(viewer, where, violation_type, tag_name, now))
    )
    rules = [
        RuleFigures(
            tag_name=rule[0],
            violation_type=rule[1],
            violations=counts.active.get(rule, (0, 0))[0],
            resources=counts.active.get(rule, (0, 0))[1],
            exempted=counts.exempted.get(rule, 0),
            cost_at_stake=money.by_rule(rule),
        )
        for rule in set(counts.active) | set(counts.exempted)
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
        violations=sum(n for n, _ in counts.active.values()),
        affected_resources=counts.affected,
        exempted_violations=sum(counts.exempted.values()),
        cost_at_stake=money.total,
    )


def _active(
    viewer: Viewer, where: ResourceFilter, violation_type: str, tag_name: str, now: datetime
) -> QuerySet[Violation]:
    return _narrowed(current_violations(viewer, where, now=now), violation_type, tag_name)


def _live_counts(
    viewer: Viewer, where: ResourceFilter, violation_type: str, tag_name: str, now: datetime
) -> _Counts:
    active = _active(viewer, where, violation_type, tag_name, now)
    exempted = _narrowed(exempted_violations(viewer, where, now=now), violation_type, tag_name)
    return _Counts(
        active={
            (row["tag_name"], row["violation_type"]): (row["n"], row["resources"])
            for row in active.values("tag_name", "violation_type")
            .annotate(n=Count("id"), resources=Count("resource_id", distinct=True))
            .order_by()
        },
        exempted={
            (row["tag_name"], row["violation_type"]): row["n"]
            for row in exempted.values("tag_name", "violation_type")
            .annotate(n=Count("id"))
            .order_by()
        },
        affected=active.order_by().values("resource_id").distinct().count(),
    )


def _stored_rows(
    viewer: Viewer, where: ResourceFilter, now: datetime
) -> QuerySet[RuleSnapshot] | None:
    """The latest scan's rule rows (``RuleSnapshot``) of the viewer's accounts, or ``None``
    when they cannot answer: a region or type filter, no stored figures, or ones that no
    longer hold."""
    scan = latest_scan()
    if scan is None or where.regions or where.resource_types:
        return None
    accounts = stored_figure_accounts(
        viewer, where.account_ids, stored_figures.rules_stored_at(scan, now)
    )
    if accounts is None:
        return None
    return RuleSnapshot.objects.filter(scan=scan, account_id__in=accounts)


def _affected(rows: QuerySet[RuleSnapshot], violation_type: str, tag_name: str) -> int:
    found = rows.filter(tag_name=tag_name, violation_type=violation_type).aggregate(
        n=Sum("resources")
    )
    return int(found["n"] or 0)


def stored_affected_resources(
    viewer: Viewer,
    where: ResourceFilter,
    *,
    violation_type: str = "",
    tag_name: str = "",
    now: datetime | None = None,
) -> int | None:
    """How many present resources have a violation that counts of ``violation_type`` on
    ``tag_name`` (either empty: any), from the stored rule figures; ``None`` when they cannot
    answer (see :func:`violations_by_rule`) and the caller must count."""
    rows = _stored_rows(viewer, where, now or timezone.now())
    return None if rows is None else _affected(rows, violation_type, tag_name)


def _stored_counts(
    viewer: Viewer, where: ResourceFilter, violation_type: str, tag_name: str, now: datetime
) -> _Counts | None:
    rows = _stored_rows(viewer, where, now)
    if rows is None:
        return None
    rules = rows.exclude(tag_name="").exclude(violation_type="")
    if tag_name:
        rules = rules.filter(tag_name=tag_name)
    if violation_type:
        rules = rules.filter(violation_type=violation_type)
    active: dict[Rule, tuple[int, int]] = {}
    exempted: dict[Rule, int] = {}
    for tag, kind, n, resources, exempt in (
        rules.values_list("tag_name", "violation_type")
        .annotate(n=Sum("violations"), resources=Sum("resources"), exempt=Sum("exempted"))
        .order_by()
    ):
        if n:
            active[(tag, kind)] = (int(n), int(resources))
        if exempt:
            exempted[(tag, kind)] = int(exempt)
    return _Counts(
        active=active, exempted=exempted, affected=_affected(rows, violation_type, tag_name)
    )


@dataclass(frozen=True, slots=True)
class _Money:
    """The cost at stake per rule and in all, ``None`` while no costs are loaded."""

    rules: dict[Rule, Decimal]
    total: Decimal | None

    def by_rule(self, rule: Rule) -> Decimal | None:
        return None if self.total is None else self.rules.get(rule, Decimal(0))


def _stored_money(stored: stored_costs.RuleCosts, affected: int) -> _Money:
    """From the stored costs at stake; as :func:`_live_money`, uncosted with nothing affected."""
    if not (stored.costed and affected):
        return _Money({}, None)
    return _Money(stored.by_rule, stored.total)


def _live_money(viewer: Viewer, active: QuerySet[Violation]) -> _Money:
    """Each affected resource costed by :func:`resource_costs`, each once per rule."""
    arns_by_rule: dict[Rule, set[str]] = defaultdict(set)
    for tag, kind, arn in (
        active.values_list("tag_name", "violation_type", "resource__arn")
        .order_by("id")
        .iterator(chunk_size=5000)
    ):
        arns_by_rule[(tag, kind)].add(arn)
    affected = set().union(*arns_by_rule.values()) if arns_by_rule else set()
    costs = resource_costs(viewer, affected) if affected else {}
    known = {arn: cost for arn, cost in costs.items() if cost is not None}
    if not known:
        return _Money({}, None)

    def at_stake(arns: set[str]) -> Decimal:
        return sum((known.get(arn, Decimal(0)) for arn in arns), Decimal(0))

    return _Money({rule: at_stake(arns) for rule, arns in arns_by_rule.items()}, at_stake(affected))
