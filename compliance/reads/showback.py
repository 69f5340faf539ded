"""Showback: who owns the spend. For one tag key and one billing period, the spend of each
distinct value of that key, and the spend no value owns, so that every charge of the period
lands in exactly one place:

    total_spend = sum(row.spend for row in rows) + untagged_spend + invalid_spend
                  + unattributable_spend + unmatched_resource_spend

- ``rows``: resources carrying the key with a value the policy accepts (every value, when the
  policy does not govern the key);
- ``untagged_spend``: resources without the key, compared exactly: a key in another letter
  case or with hidden characters is not the key, so its resources count here;
- ``invalid_spend``: resources carrying the key with a value the policy refuses (blank, not
  among the allowed values, or not matching the key's pattern);
- ``unattributable_spend``: charges that name no resource (tax, support, fees, most credits);
- ``unmatched_resource_spend``: charges naming a resource the inventory does not hold.

The bill lines and their matching to resources are those of
:func:`compliance.reads.money.cost_attribution` (same period, same bill format, same
:class:`compliance.core.costs.ResourceIndex`), so the total here is the total there.
Amounts are exact; the faces round with :func:`compliance.core.costs.to_cents`.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import Any

from django.db import connection
from django.db.models import Count, Max, QuerySet, Sum

from compliance.core import allocation, costs
from compliance.core.policy import TagRule
from compliance.models import (
    AllocationRule,
    BillingImport,
    CostAttributionState,
    CostLine,
    ShowbackFigure,
    ShowbackState,
)
from compliance.permissions.accounts import Operator, Viewer, sees_all_accounts
from compliance.reads.allocation import allocation_rules, current_version, shared_cost_rules
from compliance.reads.money import newest_format_lines, visible_cost_lines
from compliance.reads.policy import active_policy, active_rule_for
from compliance.reads.resources import ResourceFilter, present_resources, scoped_accounts
from compliance.reads.scans import latest_scan, scan_block

ZERO = costs.ZERO
#: The longest tag key AWS accepts.
MAX_TAG_KEY_LENGTH = 128

#: Bucket names accepted by the drill-down and breakdown readers.
UNTAGGED = "untagged"
INVALID = "invalid"
BUCKETS = (UNTAGGED, INVALID)
#: The keys of the buckets in :func:`spend_by_tag_trend`'s per-period mappings.
UNTAGGED_LABEL = "(untagged)"
INVALID_LABEL = "(invalid)"


class ShowbackError(ValueError):
    """A question showback cannot answer: an unknown billing period, a bad tag key or bucket."""


@dataclass(frozen=True, slots=True)
class ShowbackRow:
    """One value of the key: the spend of the resources carrying it."""

    #: The tag value as stored (AWS text: the faces reveal or escape it).
    value: str
    #: Exact; the faces round to the cent.
    spend: Decimal
    resource_count: int
    #: The value satisfies the policy for this key (True when the policy does not govern it).
    valid: bool
    #: As allocated: ``spend`` plus what the allocation rules give the value.
    allocated_spend: Decimal = ZERO
    allocated_resource_count: int = 0
    #: The rules that gave the value spend, highest first: (rule name, spend).
    allocated_by: tuple[tuple[str, Decimal], ...] = ()
    #: The value's share of the shared costs: a column of its own, in neither spend above.
    shared_spend: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Showback:
    """The spend of one billing period by the values of one tag key, and what no value owns."""

    tag_key: str
    #: First day of the billing period; ``None`` when no costs are loaded.
    billing_period_start: date | None
    currency: str | None
    cost_source: str | None
    #: Every valid value, highest spend first (ties by value).
    rows: list[ShowbackRow]
    #: Resources without the key.
    untagged_spend: Decimal
    untagged_count: int
    #: Resources with the key whose value violates the policy (these values are not in rows).
    invalid_spend: Decimal
    invalid_count: int
    #: Bill lines with no resource (tax, support, credits ...).
    unattributable_spend: Decimal
    #: Bill lines naming a resource the inventory does not hold.
    unmatched_resource_spend: Decimal
    #: ``sum(rows.spend) + untagged + invalid + unattributable + unmatched``, exactly.
    total_spend: Decimal
    #: The scan the resources are read from (see :func:`compliance.reads.scans.scan_block`).
    scan: dict[str, Any] | None
    #: Values the policy refuses, highest spend first: the detail of ``invalid_spend``.
    invalid_rows: list[ShowbackRow] | None = None
    #: The same money as allocated by the rules and shared-cost rules.
    allocated: AsAllocated | None = None


@dataclass(frozen=True, slots=True)
class AsAllocated:
    """What the allocation rules and shared-cost rules leave without a value. With the rows'
    ``allocated_spend`` and ``shared_spend`` it adds up to the period's total exactly::

        total_spend = sum(allocated_spend) + sum(shared_spend) + untagged_spend
                      + invalid_spend + unattributable_spend + unmatched_resource_spend
    """

    #: The allocation version the rules were read at (``None``: no rule was ever written).
    rules_version: int | None
    rule_count: int
    shared_rule_count: int
    untagged_spend: Decimal
    invalid_spend: Decimal
    #: Unattributable charges no rule gave a value and no shared-cost rule split.
    unattributable_spend: Decimal
    unmatched_resource_spend: Decimal
    #: The unattributable spend split over the values (the sum of the rows' ``shared_spend``).
    shared_spend: Decimal


@dataclass(frozen=True, slots=True)
class ResourceSpend:
    """One resource of a drill-down, with its spend in the period."""

    arn: str
    account_id: str
    region: str
    resource_type: str
    name: str
    #: The key's value as stored (``None``: the resource does not carry the key).
    value: str | None
    spend: Decimal
    #: As allocated: the rule that gave the value (``None``: the resource's own tag).
    rule: str | None = None


# --- the tally: every charge of a period in its one place -----------------------------------

#: Where a charge lands: a value (valid or not), or one of the buckets without a value.
_UNTAGGED_SLOT = (UNTAGGED, None)
_UNATTRIBUTABLE_SLOT = ("unattributable", None)
_UNMATCHED_SLOT = ("unmatched", None)
Slot = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class _Filters:
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        accounts: Sequence[str] | None,
        regions: Sequence[str] | None,
        services: Sequence[str] | None,
        resource_types: Sequence[str] | None,
    ) -> _Filters:
        return cls(
            tuple(accounts or ()),
            tuple(regions or ()),
            tuple(services or ()),
            tuple(resource_types or ()),
        )


@dataclass(frozen=True, slots=True)
class _Resource:
    name: str
    #: The key's value (``None``: the resource does not carry the key).
    value: str | None
    #: Its CloudFormation stack and parent resource, for rules that follow a relation.
    stack: str | None = None
    parent_arn: str | None = None


@dataclass(slots=True)
class _Allocated:
    """The same charges as allocated: what the allocation rules give, then shared costs."""

    #: Slot after the rules: a rule-given value lands in ``("value", value)``.
    spend: dict[Slot, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    resources: dict[Slot, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: Value -> rule name -> the spend that rule gave the value.
    by_rule: dict[str, dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    #: (value, ARN) -> the resource's spend as allocated to the value.
    resource_spend: dict[tuple[str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    #: (value, ARN) -> the rule that gave the resource the value, for resources given one.
    rule_of: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Unattributable charges no rule gave a value, per (service, charge category).
    unattributable: dict[tuple[str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    #: Value -> its share of the shared costs (a separate column, never in ``spend``).
    shared: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    #: The unattributable spend the shared-cost rules split.
    shared_total: Decimal = ZERO


@dataclass(slots=True)
class _Tally:
    """One period's charges, each counted once under its slot."""

    spend: dict[Slot, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    resources: dict[Slot, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_account: dict[Slot, dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    by_service: dict[Slot, dict[str, Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    #: ARN -> (the resource, its spend), for every charged inventory resource.
    per_resource: dict[str, tuple[costs.InventoryResource, _Resource, Decimal]] = field(
        default_factory=dict
    )
    total: Decimal = ZERO
    allocated: _Allocated = field(default_factory=_Allocated)


def _check_key(tag_key: str) -> str:
    if not isinstance(tag_key, str) or not tag_key:
        raise ShowbackError("tag_key: a tag key is required")
    if len(tag_key) > MAX_TAG_KEY_LENGTH:
        raise ShowbackError(f"tag_key: at most {MAX_TAG_KEY_LENGTH} characters")
    return tag_key


def value_is_valid(rule: TagRule | None, value: str) -> bool:
    """Whether the policy accepts ``value`` for the key of ``rule``: not blank, one of the
    allowed values, matching the pattern, as :func:`compliance.core.policy.evaluate` judges a
    present key. Every value is valid for a key the policy does not govern."""
    return rule is None or not rule.value_violations(value)


def _rules(tag_key: str) -> tuple[allocation.Rule, ...]:
    """The key's enabled allocation rules, less those giving a value the active policy now
    refuses (the policy changed since the rule was saved): a rule never gives an invalid
    value. Related rules give the valid values of related resources only."""
    policy_rule = active_rule_for(tag_key)
    return tuple(
        rule
        for rule in allocation_rules(tag_key)
        if rule.related or value_is_valid(policy_rule, rule.value)
    )


def _shared_rules(tag_key: str) -> tuple[allocation.SharedRule, ...]:
    """The key's enabled shared-cost rules, less fixed ones naming a value the active policy
    now refuses: their charges stay unattributable rather than go to an invalid value."""
    policy_rule = active_rule_for(tag_key)
    return tuple(
        rule
        for rule in shared_cost_rules(tag_key)
        if all(value_is_valid(policy_rule, value) for value in rule.percentages)
    )


def _period_start(period: date) -> datetime:
    return datetime(period.year, period.month, 1, tzinfo=UTC)


def _bill_lines(
    viewer: Viewer, filters: _Filters, start: datetime
) -> tuple[QuerySet[CostLine], BillingImport | None]:
    """The viewer's lines of one period from one bill format, chosen as
    :func:`compliance.reads.money.cost_attribution` chooses (the newest import's format)."""
    lines = visible_cost_lines(viewer, filters.accounts).filter(billing_period_start=start)
    return newest_format_lines(lines)


def _resolve_period(viewer: Viewer, filters: _Filters, period: date | None) -> datetime | None:
    """The period asked for (which must have a bill), or the latest one loaded (``None``:
    no bill at all)."""
    lines = visible_cost_lines(viewer, filters.accounts)
    if period is None:
        latest: datetime | None = lines.aggregate(latest=Max("billing_period_start"))["latest"]
        return latest
    start = _period_start(period)
    if not lines.filter(billing_period_start=start).exists():
        raise ShowbackError(
            f"billing_period: no bill is loaded for {start:%Y-%m} in the accounts you may see"
        )
    return start


@dataclass(frozen=True, slots=True)
class _Place:
    """What a resource is beside its tags: its name, stack and parent, for the rules."""

    name: str
    stack: str | None
    parent_arn: str | None


@dataclass(frozen=True, slots=True)
class _Inventory:
    """Every present resource of the accounts concerned (matching a bare id needs them all),
    with what one key and its rules need of each."""

    resources: list[costs.InventoryResource]
    places: dict[str, _Place]
    #: ARN -> the key's value, for the resources carrying the key.
    values: dict[str, str]
    #: The valid values reachable through a relation, for the rules that follow one.
    related: allocation.Related

    def detail(self, arn: str) -> _Resource:
        place = self.places[arn]
        return _Resource(place.name, self.values.get(arn), place.stack, place.parent_arn)


def _inventories(
    viewer: Viewer, filters: _Filters, rules: Mapping[str, TagRule | None]
) -> dict[str, _Inventory]:
    """The inventory for each key of ``rules`` (the policy's rule of the key), read once."""
    resources = present_resources(viewer, ResourceFilter(account_ids=filters.accounts))
    inventory: list[costs.InventoryResource] = []
    places: dict[str, _Place] = {}
    values: dict[str, dict[str, str]] = {key: {} for key in rules}
    for arn, account_id, region, resource_type, name, tags, attributes in resources.values_list(
        "arn", "account__account_id", "region", "resource_type", "name", "tags", "attributes"
    ).iterator(chunk_size=5000):
        inventory.append(costs.InventoryResource(arn, account_id, region, resource_type))
        tags = tags if isinstance(tags, dict) else {}
        parent = attributes.get("parent_arn") if isinstance(attributes, dict) else None
        places[arn] = _Place(name, allocation.stack_of(tags), str(parent) if parent else None)
        for key, carried in values.items():
            raw = tags.get(key)
            if raw is not None:
                carried[arn] = str(raw)
    return {
        key: _Inventory(inventory, places, values[key], _related(places, values[key], rule))
        for key, rule in rules.items()
    }


def _inventory(viewer: Viewer, filters: _Filters, tag_key: str, rule: TagRule | None) -> _Inventory:
    return _inventories(viewer, filters, {tag_key: rule})[tag_key]


def _related(
    places: Mapping[str, _Place], values: Mapping[str, str], rule: TagRule | None
) -> allocation.Related:
    """The valid values a relation reaches: each resource's, and each stack's."""
    validity: dict[str, bool] = {}
    by_arn: dict[str, str] = {}
    stacks: list[tuple[str, str]] = []
    for arn, value in values.items():
        valid = validity.get(value)
        if valid is None:
            valid = validity[value] = value_is_valid(rule, value)
        if valid:
            by_arn[arn] = value
            stack = places[arn].stack
            if stack is not None:
                stacks.append((stack, value))
    return allocation.Related(by_stack=allocation.stack_values(stacks), by_arn=by_arn)


def _charges(lines: QuerySet[CostLine], filters: _Filters) -> Iterator[costs.Charge]:
    if filters.regions:
        lines = lines.filter(region__in=filters.regions)
    if filters.services:
        lines = lines.filter(service__in=filters.services)
    for row in lines.values_list(
        "account_id", "region", "service", "resource_id", "charge_category", "effective_cost"
    ).iterator(chunk_size=5000):
        yield costs.Charge(*row)


@dataclass(frozen=True, slots=True)
class _Classified:
    """One charge in its slot as tagged, with the resource it was matched to."""

    charge: costs.Charge
    slot: Slot
    resource: costs.InventoryResource | None
    detail: _Resource | None

    def subject(self) -> allocation.Subject:
        """The charge as the allocation rules see it."""
        charge, resource, detail = self.charge, self.resource, self.detail
        return allocation.Subject(
            account_id=charge.account_id,
            region=charge.region,
            service=charge.service,
            resource_id=charge.resource_id,
            arn=resource.arn if resource is not None else None,
            resource_type=resource.resource_type if resource is not None else None,
            name=detail.name if detail is not None else "",
            stack=detail.stack if detail is not None else None,
            parent_arn=detail.parent_arn if detail is not None else None,
        )


def _classified(
    lines: QuerySet[CostLine], filters: _Filters, rule: TagRule | None, inventory: _Inventory
) -> Iterator[_Classified]:
    """Each charge in its slot, matched to the inventory as ``costs.attribute`` matches it."""
    index = costs.ResourceIndex(inventory.resources)
    validity: dict[str, bool] = {}
    for charge in _charges(lines, filters):
        matched = (
            index.match(charge.account_id, charge.region, charge.resource_id)
            if charge.resource_id
            else None
        )
        if filters.resource_types and (
            matched is None or matched.resource_type not in filters.resource_types
        ):
            continue
        slot: Slot
        detail = None
        if not charge.resource_id:
            slot = _UNATTRIBUTABLE_SLOT
        elif matched is None:
            slot = _UNMATCHED_SLOT
        else:
            detail = inventory.detail(matched.arn)
            slot = _slot_of(detail.value, rule, validity)
        yield _Classified(charge, slot, matched, detail)


def _slot_of(value: str | None, rule: TagRule | None, validity: dict[str, bool]) -> Slot:
    """The slot of an inventory resource carrying ``value`` (``None``: without the key);
    ``validity`` caches the policy's verdict per value."""
    if value is None:
        return _UNTAGGED_SLOT
    valid = validity.get(value)
    if valid is None:
        valid = validity[value] = value_is_valid(rule, value)
    return (VALUE if valid else INVALID, value)


def _tally(
    lines: QuerySet[CostLine],
    filters: _Filters,
    rule: TagRule | None,
    inventory: _Inventory,
    rules: Sequence[allocation.Rule] = (),
    shared_rules: Sequence[allocation.SharedRule] = (),
) -> _Tally:
    """Every charge in its slot as tagged, and as allocated by ``rules`` and ``shared_rules``."""
    tally = _Tally()
    allocated = tally.allocated
    with localcontext() as context:
        context.prec = 60  # sums of 10-decimal amounts stay exact far beyond any bill
        for item in _classified(lines, filters, rule, inventory):
            charge, slot, matched = item.charge, item.slot, item.resource
            cost = charge.cost
            if matched is not None and item.detail is not None:
                tally.resources[slot].add(matched.arn)
                _, _, before = tally.per_resource.get(matched.arn, (matched, item.detail, ZERO))
                tally.per_resource[matched.arn] = (matched, item.detail, before + cost)
            tally.spend[slot] += cost
            tally.by_account[slot][charge.account_id] += cost
            tally.by_service[slot][charge.service] += cost
            tally.total += cost
            given = (
                allocation.allocate(rules, item.subject(), inventory.related)
                if rules and slot[0] != "value"
                else None
            )
            placed: Slot = slot
            if given is not None:
                by, value = given
                placed = ("value", value)
                allocated.by_rule[value][by.name] += cost
                if matched is not None:
                    allocated.rule_of[(value, matched.arn)] = by.name
            elif slot == _UNATTRIBUTABLE_SLOT:
                allocated.unattributable[(charge.service, charge.charge_category)] += cost
            allocated.spend[placed] += cost
            if matched is not None:
                allocated.resources[placed].add(matched.arn)
                if placed[0] == "value" and placed[1] is not None:
                    allocated.resource_spend[(placed[1], matched.arn)] += cost
        _share(allocated, shared_rules)
    return tally


def _share(allocated: _Allocated, shared_rules: Sequence[allocation.SharedRule]) -> None:
    """Split the unattributable charges the shared-cost rules cover over the values, by each
    value's allocated spend (:func:`compliance.core.allocation.split`); what no rule covers,
    or no value can take, stays unattributable."""
    if not shared_rules:
        return
    per_rule: dict[int, tuple[allocation.SharedRule, Decimal]] = {}
    for (service, category), amount in sorted(allocated.unattributable.items()):
        found = allocation.shared_rule_for(shared_rules, service, category)
        if found is not None:
            _, before = per_rule.get(found.id, (found, ZERO))
            per_rule[found.id] = (found, before + amount)
    weights = {
        value: amount
        for (kind, value), amount in allocated.spend.items()
        if kind == "value" and value is not None
    }
    for shared_rule, amount in per_rule.values():
        shares = allocation.split(amount, shared_rule, weights)
        for value, share in shares.items():
            allocated.shared[value] += share
        if shares:
            allocated.shared_total += amount


@dataclass(frozen=True, slots=True)
class _Period:
    start: datetime | None
    newest: BillingImport | None
    currency: str | None
    tally: _Tally
    rules: tuple[allocation.Rule, ...] = ()
    shared_rules: tuple[allocation.SharedRule, ...] = ()
    rules_version: int | None = None
    #: The sums read from the stored figures (``None``: computed, in ``tally``).
    stored: _Figures | None = None
    stored_source: str | None = None

    @property
    def cost_source(self) -> str | None:
        if self.stored_source is not None:
            return self.stored_source
        return self.newest.source_format if self.newest is not None else None

    def figures(self) -> _Figures:
        return self.stored if self.stored is not None else _Figures.of(self.tally)


def _answer(viewer: Viewer, tag_key: str, period: date | None, filters: _Filters) -> _Period:
    tag_key = _check_key(tag_key)
    version = current_version()
    rules = _rules(tag_key)
    shared_rules = _shared_rules(tag_key)
    number = version.version if version is not None else None
    start = _resolve_period(viewer, filters, period)
    if start is None:
        return _Period(None, None, None, _Tally(), rules, shared_rules, number)
    lines, newest = _bill_lines(viewer, filters, start)
    currencies = sorted(
        set(
            BillingImport.objects.filter(pk__in=lines.values("billing_import_id")).values_list(
                "currency", flat=True
            )
        )
    )
    rule = active_rule_for(tag_key)
    tally = _tally(
        lines, filters, rule, _inventory(viewer, filters, tag_key, rule), rules, shared_rules
    )
    return _Period(start, newest, ", ".join(currencies) or None, tally, rules, shared_rules, number)


@dataclass(frozen=True, slots=True)
class _Figures:
    """A period's sums per slot, as tagged and as allocated, from the tally or the store."""

    spend: Mapping[Slot, Decimal]
    counts: Mapping[Slot, int]
    allocated: _Allocated
    allocated_counts: Mapping[Slot, int]
    total: Decimal

    @classmethod
    def of(cls, tally: _Tally) -> _Figures:
        return cls(
            tally.spend,
            {slot: len(arns) for slot, arns in tally.resources.items()},
            tally.allocated,
            {slot: len(arns) for slot, arns in tally.allocated.resources.items()},
            tally.total,
        )


def _rows(figures: _Figures, kind: str) -> list[ShowbackRow]:
    rows = [
        ShowbackRow(
            value=value,
            spend=amount,
            resource_count=figures.counts.get(slot, 0),
            valid=kind == VALUE,
        )
        for slot, amount in figures.spend.items()
        if slot[0] == kind and (value := slot[1]) is not None
    ]
    return sorted(rows, key=lambda row: (-row.spend, row.value))


def _allocated_rows(figures: _Figures) -> list[ShowbackRow]:
    """The valid values as tagged and as allocated: every value a tag, a rule or a shared
    cost gives, highest spend as tagged first (then highest allocated, then by value)."""
    allocated = figures.allocated
    values = {
        value
        for kind, value in (*figures.spend, *allocated.spend)
        if kind == VALUE and value is not None
    } | set(allocated.shared)
    rows = []
    for value in values:
        slot = (VALUE, value)
        by_rule = sorted(allocated.by_rule.get(value, {}).items(), key=lambda i: (-i[1], i[0]))
        rows.append(
            ShowbackRow(
                value=value,
                spend=figures.spend.get(slot, ZERO),
                resource_count=figures.counts.get(slot, 0),
                valid=True,
                allocated_spend=allocated.spend.get(slot, ZERO),
                allocated_resource_count=figures.allocated_counts.get(slot, 0),
                allocated_by=tuple(by_rule),
                shared_spend=allocated.shared.get(value, ZERO),
            )
        )
    return sorted(rows, key=lambda row: (-row.spend, -row.allocated_spend, row.value))


def _bucket_total(figures: _Figures, kind: str) -> tuple[Decimal, int]:
    """A bucket's spend and resources (a resource has one value, so the counts add up)."""
    spend = sum((a for slot, a in figures.spend.items() if slot[0] == kind), ZERO)
    count = sum(n for slot, n in figures.counts.items() if slot[0] == kind)
    return spend, count


# --- the readers ------------------------------------------------------------------------------


def spend_by_tag(
    viewer: Viewer,
    tag_key: str,
    *,
    period: date | None = None,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    resource_types: Sequence[str] | None = None,
) -> Showback:
    """The showback of ``tag_key`` for one billing period (default: the latest loaded).

    ``accounts`` narrows to those accounts (one the viewer may not see is an error, as
    everywhere); ``regions`` and ``services`` apply to each bill line, ``resource_types``
    keeps only the charges on inventory resources of those types (as the attribution does).
    A period with no bill is a :class:`ShowbackError`.

    Read from the stored figures when they hold (:func:`showback_cells`, refreshed by
    ``compliance.stored.showback``), else computed from the bill lines and the inventory:
    the same numbers either way (``tests/compliance/test_showback_stored.py``).
    """
    filters = _Filters.of(accounts, regions, services, resource_types)
    tag_key = _check_key(tag_key)
    answer = _stored_answer(viewer, tag_key, period, filters) or _answer(
        viewer, tag_key, period, filters
    )
    figures = answer.figures()
    untagged, untagged_count = _bucket_total(figures, UNTAGGED)
    invalid, invalid_count = _bucket_total(figures, INVALID)
    return Showback(
        tag_key=tag_key,
        billing_period_start=answer.start.date() if answer.start else None,
        currency=answer.currency,
        cost_source=answer.cost_source,
        rows=_allocated_rows(figures),
        untagged_spend=untagged,
        untagged_count=untagged_count,
        invalid_spend=invalid,
        invalid_count=invalid_count,
        unattributable_spend=figures.spend.get(_UNATTRIBUTABLE_SLOT, ZERO),
        unmatched_resource_spend=figures.spend.get(_UNMATCHED_SLOT, ZERO),
        total_spend=figures.total,
        scan=scan_block(latest_scan(), viewer),
        invalid_rows=_rows(figures, INVALID),
        allocated=_as_allocated(answer, figures),
    )


def _as_allocated(answer: _Period, figures: _Figures) -> AsAllocated:
    allocated = figures.allocated

    def left(kind: str) -> Decimal:
        return sum((a for slot, a in allocated.spend.items() if slot[0] == kind), ZERO)

    with localcontext() as context:
        context.prec = 60
        return AsAllocated(
            rules_version=answer.rules_version,
            rule_count=len(answer.rules),
            shared_rule_count=len(answer.shared_rules),
            untagged_spend=left(UNTAGGED),
            invalid_spend=left(INVALID),
            unattributable_spend=left(UNATTRIBUTABLE) - allocated.shared_total,
            unmatched_resource_spend=left(UNMATCHED),
            shared_spend=allocated.shared_total,
        )


def _selected(value: str | None, bucket: str | None) -> Callable[[Slot], bool]:
    """Which slots one value or one bucket covers."""
    if bucket is not None and bucket not in BUCKETS:
        raise ShowbackError(f"bucket: one of {', '.join(BUCKETS)}")
    if value is None and bucket is None:
        raise ShowbackError("a value or a bucket is required")
    if bucket == UNTAGGED:
        if value is not None:
            raise ShowbackError("bucket: resources without the key have no value")
        return lambda slot: slot == _UNTAGGED_SLOT
    if bucket == INVALID:
        return lambda slot: slot[0] == INVALID and (value is None or slot[1] == value)
    return lambda slot: slot[0] in ("value", INVALID) and slot[1] == value


def _highest_first(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    return dict(sorted(amounts.items(), key=lambda item: (-item[1], item[0])))


def spend_by_tag_breakdown(
    viewer: Viewer,
    tag_key: str,
    value: str | None,
    *,
    bucket: str | None = None,
    period: date | None = None,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    resource_types: Sequence[str] | None = None,
) -> dict[str, dict[str, Decimal]]:
    """The spend of one value (or one bucket: ``untagged`` or ``invalid``, optionally one
    invalid value) by bill account and by service: ``{"by_account": {...}, "by_service":
    {...}}``, highest first."""
    wanted = _selected(value, bucket)
    filters = _Filters.of(accounts, regions, services, resource_types)
    tally = _answer(viewer, tag_key, period, filters).tally
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    by_service: dict[str, Decimal] = defaultdict(Decimal)
    with localcontext() as context:
        context.prec = 60
        for slot in tally.spend:
            if wanted(slot):
                for name, amount in tally.by_account[slot].items():
                    by_account[name] += amount
                for name, amount in tally.by_service[slot].items():
                    by_service[name] += amount
    return {"by_account": _highest_first(by_account), "by_service": _highest_first(by_service)}


def spend_by_tag_trend(
    viewer: Viewer,
    tag_key: str,
    *,
    months: int = 12,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    resource_types: Sequence[str] | None = None,
) -> list[tuple[date, dict[str, Decimal]]]:
    """Per billing period (oldest first, the latest ``months`` with a bill): valid value ->
    spend, with the keys ``(untagged)`` and ``(invalid)`` for those buckets.

    Every period is read against today's inventory and tags: the trend shows how the bill
    moved under the current ownership, not how the tags were then.
    """
    if months < 1:
        raise ShowbackError("months: at least 1")
    tag_key = _check_key(tag_key)
    filters = _Filters.of(accounts, regions, services, resource_types)
    state = _stored_state(tag_key, filters)
    if state is not None:  # the periods without reading the bill lines
        _, imports = _stored_imports(viewer, filters, state)
        periods = {datetime.fromisoformat(entry[0]) for entry in imports}
        starts = sorted(periods, reverse=True)[:months]
    else:
        starts = list(
            visible_cost_lines(viewer, filters.accounts)
            .order_by("-billing_period_start")
            .values_list("billing_period_start", flat=True)
            .distinct()[:months]
        )
    if not starts:
        return []
    rule = active_rule_for(tag_key)
    inventory: _Inventory | None = None
    trend: list[tuple[date, dict[str, Decimal]]] = []
    for start in sorted(starts):
        answer = (
            _stored_answer(viewer, tag_key, start.date(), filters, state)
            if state is not None
            else None
        )
        if answer is not None:
            figures = answer.figures()
        else:
            if inventory is None:
                inventory = _inventory(viewer, filters, tag_key, rule)
            lines, _ = _bill_lines(viewer, filters, start)
            figures = _Figures.of(_tally(lines, filters, rule, inventory))
        point = {row.value: row.spend for row in _rows(figures, VALUE)}
        point[UNTAGGED_LABEL] = _bucket_total(figures, UNTAGGED)[0]
        point[INVALID_LABEL] = _bucket_total(figures, INVALID)[0]
        trend.append((start.date(), point))
    return trend


def resources_with_tag_value(
    viewer: Viewer,
    tag_key: str,
    value: str | None,
    *,
    bucket: str | None = None,
    period: date | None = None,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
    services: Sequence[str] | None = None,
    resource_types: Sequence[str] | None = None,
    allocated: bool = False,
) -> list[ResourceSpend]:
    """The charged resources of one value (or bucket) in the period, highest spend first
    (ties by ARN): the resources a row's ``resource_count`` counts, whose spends add up to
    the row's spend. ``allocated``: the resources of a valid value as allocated (those
    ``allocated_resource_count`` counts, each with the rule that gave it the value, if one
    did), whose spends add up to the row's ``allocated_spend`` less what rules gave charges
    of no inventory resource."""
    wanted = _selected(value, bucket)
    filters = _Filters.of(accounts, regions, services, resource_types)
    tally = _answer(viewer, tag_key, period, filters).tally
    if allocated:
        if value is None or bucket is not None:
            raise ShowbackError("allocated: a valid value is required, not a bucket")
        return _allocated_resources(tally, value)
    arns: set[str] = set()
    for slot, members in tally.resources.items():
        if wanted(slot):
            arns |= members
    found = [
        ResourceSpend(
            arn=arn,
            account_id=resource.account_id,
            region=resource.region,
            resource_type=resource.resource_type,
            name=detail.name,
            value=detail.value,
            spend=spend,
        )
        for arn in arns
        for resource, detail, spend in (tally.per_resource[arn],)
    ]
    return sorted(found, key=lambda item: (-item.spend, item.arn))


def _allocated_resources(tally: _Tally, value: str) -> list[ResourceSpend]:
    allocated = tally.allocated
    found = []
    for arn in allocated.resources.get(("value", value), ()):
        resource, detail, _ = tally.per_resource[arn]
        found.append(
            ResourceSpend(
                arn=arn,
                account_id=resource.account_id,
                region=resource.region,
                resource_type=resource.resource_type,
                name=detail.name,
                value=detail.value,
                spend=allocated.resource_spend[(value, arn)],
                rule=allocated.rule_of.get((value, arn)),
            )
        )
    return sorted(found, key=lambda item: (-item.spend, item.arn))


def showback_fields(
    showback: Showback, rows: Sequence[ShowbackRow] | None = None
) -> dict[str, Any]:
    """The showback with the fields and spelling of ``get_spend_by_tag`` (and of ``manage.py
    showback``): money to the cent as decimal strings (a JSON float could not promise the
    cents), null rather than 0.00 when no bill is loaded. ``rows``: a page of the rows (all of
    them by default)."""
    start = showback.billing_period_start

    def amount(value: Decimal) -> str | None:
        return str(costs.to_cents(value)) if start is not None else None

    return {
        "tag_key": showback.tag_key,
        "billing_period_start": start.isoformat() if start else None,
        "currency": showback.currency,
        "cost_source": showback.cost_source,
        "rows": [
            {
                "value": row.value,
                "spend": amount(row.spend),
                "resource_count": row.resource_count,
                "valid": row.valid,
                "allocated_spend": amount(row.allocated_spend),
                "allocated_resource_count": row.allocated_resource_count,
                "allocated_by": [
                    {"rule": name, "spend": amount(spend)} for name, spend in row.allocated_by
                ],
                "shared_spend": amount(row.shared_spend),
            }
            for row in (showback.rows if rows is None else rows)
        ],
        "untagged_spend": amount(showback.untagged_spend),
        "untagged_count": showback.untagged_count,
        "invalid_spend": amount(showback.invalid_spend),
        "invalid_count": showback.invalid_count,
        "unattributable_spend": amount(showback.unattributable_spend),
        "unmatched_resource_spend": amount(showback.unmatched_resource_spend),
        "total_spend": amount(showback.total_spend),
        "as_allocated": _as_allocated_fields(showback.allocated, amount),
        "scan": showback.scan,
    }


def _as_allocated_fields(
    allocated: AsAllocated | None, amount: Callable[[Decimal], str | None]
) -> dict[str, Any] | None:
    if allocated is None:
        return None
    return {
        "rules_version": allocated.rules_version,
        "rule_count": allocated.rule_count,
        "shared_rule_count": allocated.shared_rule_count,
        "untagged_spend": amount(allocated.untagged_spend),
        "invalid_spend": amount(allocated.invalid_spend),
        "unattributable_spend": amount(allocated.unattributable_spend),
        "unmatched_resource_spend": amount(allocated.unmatched_resource_spend),
        "shared_spend": amount(allocated.shared_spend),
    }


# --- a rule's reach, before it is saved ---------------------------------------------------------

#: Resource ids a reach lists as a sample.
REACH_SAMPLE = 10


@dataclass(frozen=True, slots=True)
class RuleReach:
    """What one allocation rule would give a value to, at its place among the key's rules."""

    billing_period_start: date | None
    #: Charges it would give a value to.
    charges: int
    #: Distinct inventory resources among them.
    resources: int
    #: Their spend.
    spend: Decimal
    #: Spend it matches that an earlier rule already gives a value.
    taken_earlier_spend: Decimal
    #: Up to ``REACH_SAMPLE`` ARNs (or bill resource ids) it reaches, highest spend first.
    sample: list[str]


def rule_reach(
    viewer: Viewer,
    rule: allocation.Rule,
    *,
    position: int | None = None,
    period: date | None = None,
) -> RuleReach:
    """The reach of ``rule`` in a billing period (default: the latest loaded), placed after
    the enabled rules of its key that come before ``position`` (default: the saved rule's own
    position, or after every rule when it is not saved). The rule itself is never read from
    the database: the form's values are previewed as they stand."""
    tag_key = _check_key(rule.tag_key)
    earlier = tuple(_rules_before(tag_key, rule.id, position))
    filters = _Filters()
    start = _resolve_period(viewer, filters, period)
    if start is None:
        return RuleReach(None, 0, 0, ZERO, ZERO, [])
    lines, _ = _bill_lines(viewer, filters, start)
    policy_rule = active_rule_for(tag_key)
    inventory = _inventory(viewer, filters, tag_key, policy_rule)
    spend = taken = ZERO
    charges = 0
    resources: set[str] = set()
    reached: dict[str, Decimal] = defaultdict(Decimal)
    with localcontext() as context:
        context.prec = 60
        for item in _classified(lines, filters, policy_rule, inventory):
            if item.slot[0] == "value":
                continue
            subject = item.subject()
            if allocation.allocate((rule,), subject, inventory.related) is None:
                continue
            cost = item.charge.cost
            if earlier and allocation.allocate(earlier, subject, inventory.related) is not None:
                taken += cost
                continue
            charges += 1
            spend += cost
            name = item.resource.arn if item.resource is not None else item.charge.resource_id
            if item.resource is not None:
                resources.add(item.resource.arn)
            reached[name or f"({item.charge.service}, no resource)"] += cost
    sample = sorted(reached, key=lambda name: (-reached[name], name))[:REACH_SAMPLE]
    return RuleReach(start.date(), charges, len(resources), spend, taken, sample)


def _rules_before(tag_key: str, rule_id: int, position: int | None) -> list[allocation.Rule]:
    """The enabled rules of the key that a rule at ``position`` comes after, itself left out
    (ties by id: a rule not yet saved comes after every rule of its position)."""
    placed = dict(
        AllocationRule.objects.filter(tag_key=tag_key, enabled=True).values_list("id", "position")
    )
    if position is None:
        position = placed.get(rule_id)
    others = [r for r in _rules(tag_key) if r.id != rule_id]
    if position is None:
        return others
    own = (position, rule_id or sys.maxsize)
    return [r for r in others if r.id in placed and (placed[r.id], r.id) < own]


# --- stored figures: the same sums, computed once per change ------------------------------------

#: A stored spend cell's fields, in the order of :attr:`StoredCells.spend`'s keys. The service
#: and charge category are kept only for what stays unattributable (the shared-cost rules
#: choose by them); a region or service filter is answered by the computation.
CELL_FIELDS = (
    "account_id",
    "service",
    "resource_type",
    "charge_category",
    "kind",
    "value",
    "allocated_kind",
    "allocated_value",
    "rule",
)
#: The slot kinds as the stored cells spell them.
VALUE, UNATTRIBUTABLE, UNMATCHED = "value", "unattributable", "unmatched"


def showback_fingerprint() -> dict[str, Any]:
    """The marks of everything showback depends on: bill lines, resources and their tags,
    the policy, the allocation rules. Stored figures answer only while these are unchanged."""
    state = CostAttributionState.objects.filter(pk=1).values_list("changes", flat=True).first()
    scan = latest_scan()
    policy = active_policy()
    version = current_version()
    imports = BillingImport.objects.aggregate(last=Max("id"), n=Count("id"))
    return {
        "changes": state,
        "scan": scan.pk if scan is not None else None,
        "scan_finished": scan.finished_at.isoformat() if scan and scan.finished_at else None,
        "policy": policy.pk if policy is not None else None,
        "allocation": version.version if version is not None else None,
        "imports": [imports["last"], imports["n"]],
    }


@dataclass(slots=True)
class StoredCells:
    """One tag key's stored sums for every period and format."""

    #: (period, format) -> cell fields -> spend.
    spend: dict[tuple[datetime, str], dict[tuple[str, ...], Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    #: (period, format, measure) -> (resource account, type, kind, value) -> resources.
    counts: dict[tuple[datetime, str, str], dict[tuple[str, str, str, str], int]] = field(
        default_factory=dict
    )
    #: (period, format) pairs with a charge matched by ARN to another account's resource.
    cross_account: set[tuple[datetime, str]] = field(default_factory=set)


#: Keys whose inventory carries more distinct values than this are not stored.
MAX_STORED_VALUES = 10_000


def showback_cells(tag_keys: Sequence[str]) -> dict[str, StoredCells]:
    """Every period's charges as the operator sees them, summed per cell (:data:`CELL_FIELDS`)
    for each key, and the resources of each slot counted per account and type, as tagged and
    as allocated. The inventory is read and each bill line matched once for every key. Keys
    with more than :data:`MAX_STORED_VALUES` values are left out of the answer."""
    policy_rules = {key: active_rule_for(key) for key in tag_keys}
    inventories = _inventories(Operator(), _Filters(), policy_rules)
    # A key with a value per resource (a Name, an id) would store a sum per resource: its
    # showback is computed when asked.
    tag_keys = [
        key for key in tag_keys if len(set(inventories[key].values.values())) <= MAX_STORED_VALUES
    ]
    rules = {key: _rules(key) for key in tag_keys}
    found: dict[str, StoredCells] = {key: StoredCells() for key in tag_keys}
    if not tag_keys:
        return found
    index = costs.ResourceIndex(next(iter(inventories.values())).resources)
    validity: dict[str, dict[str, bool]] = {key: {} for key in tag_keys}
    pairs = (
        CostLine.objects.order_by().values_list("billing_period_start", "source_format").distinct()
    )
    with localcontext() as context:
        context.prec = 60
        for start, source_format in sorted(set(pairs)):
            lines = CostLine.objects.filter(billing_period_start=start, source_format=source_format)
            counted: dict[str, tuple[_Members, _Members]] = {
                key: (defaultdict(set), defaultdict(set)) for key in tag_keys
            }
            for charge in _charges(lines, _Filters()):
                resource = (
                    index.match(charge.account_id, charge.region, charge.resource_id)
                    if charge.resource_id
                    else None
                )
                subject: allocation.Subject | None = None
                for key in tag_keys:
                    inventory = inventories[key]
                    slot: Slot
                    if not charge.resource_id:
                        slot = _UNATTRIBUTABLE_SLOT
                    elif resource is None:
                        slot = _UNMATCHED_SLOT
                    else:
                        slot = _slot_of(
                            inventory.values.get(resource.arn), policy_rules[key], validity[key]
                        )
                    given = None
                    if rules[key] and slot[0] != VALUE:
                        if subject is None:
                            detail = inventory.detail(resource.arn) if resource else None
                            subject = _Classified(charge, slot, resource, detail).subject()
                        given = allocation.allocate(rules[key], subject, inventory.related)
                    placed = (VALUE, given[1]) if given is not None else slot
                    kept = placed == _UNATTRIBUTABLE_SLOT
                    cells = found[key]
                    cells.spend[(start, source_format)][
                        (
                            charge.account_id,
                            charge.service if kept else "",
                            resource.resource_type if resource is not None else "",
                            charge.charge_category if kept else "",
                            slot[0],
                            slot[1] or "",
                            placed[0],
                            placed[1] or "",
                            given[0].name if given is not None else "",
                        )
                    ] += charge.cost
                    if resource is not None:
                        tagged, allocated = counted[key]
                        home = (resource.account_id, resource.resource_type)
                        tagged[(*home, slot[0], slot[1] or "")].add(resource.arn)
                        allocated[(*home, placed[0], placed[1] or "")].add(resource.arn)
                        if resource.account_id != charge.account_id:
                            cells.cross_account.add((start, source_format))
            for key, (tagged, allocated) in counted.items():
                for measure, members in ((TAGGED, tagged), (ALLOCATED, allocated)):
                    found[key].counts[(start, source_format, measure)] = {
                        cell: len(arns) for cell, arns in members.items()
                    }
    return found


#: (resource account, type, kind, value) -> the resources there.
_Members = dict[tuple[str, str, str, str], set[str]]


TAGGED = ShowbackFigure.Measure.TAGGED.value
ALLOCATED = ShowbackFigure.Measure.ALLOCATED.value
SPEND = ShowbackFigure.Measure.SPEND.value


@dataclass(frozen=True, slots=True)
class _StoredScope:
    """The bill accounts a viewer's stored figures cover (``None``: every one, registered or
    not), and the period and format they use."""

    accounts: frozenset[str] | None
    start: datetime
    source_format: str
    currency: str | None


def _stored_imports(
    viewer: Viewer, filters: _Filters, state: ShowbackState
) -> tuple[frozenset[str] | None, list[list[Any]]]:
    """The bill accounts the viewer's figures cover (``None``: every one) and the stored
    imports of those accounts (:attr:`ShowbackState.imports`)."""
    if not filters.accounts and sees_all_accounts(viewer):
        return None, list(state.imports)
    accounts = frozenset(
        scoped_accounts(viewer, filters.accounts).values_list("account_id", flat=True)
    )
    return accounts, [entry for entry in state.imports if entry[1] in accounts]


def _stored_scope(
    viewer: Viewer, filters: _Filters, period: date | None, state: ShowbackState
) -> _StoredScope | None:
    accounts, imports = _stored_imports(viewer, filters, state)
    if not imports:
        return None
    if period is None:
        start_text = max(entry[0] for entry in imports)
    else:
        start_text = _period_start(period).isoformat()
        if not any(entry[0] == start_text for entry in imports):
            start = _period_start(period)
            raise ShowbackError(
                f"billing_period: no bill is loaded for {start:%Y-%m} in the accounts you may see"
            )
    of_period = [entry for entry in imports if entry[0] == start_text]
    newest = max(of_period, key=lambda entry: (entry[3], entry[2]))
    source_format = newest[4]
    if accounts is not None and [start_text, source_format] in state.cross_account:
        return None
    currencies = sorted({entry[5] for entry in of_period if entry[4] == source_format})
    return _StoredScope(
        accounts,
        datetime.fromisoformat(start_text),
        source_format,
        ", ".join(currencies) or None,
    )


def _stored_state(tag_key: str, filters: _Filters) -> ShowbackState | None:
    """The stored figures' state when they can answer this question exactly."""
    if filters.regions or filters.services:
        return None  # resource counts are stored per account and type only
    state = ShowbackState.objects.filter(pk=1).first()
    if state is None or tag_key not in state.tag_keys:
        return None
    if state.fingerprint != showback_fingerprint():
        return None
    return state


def _summed(
    figures: QuerySet[ShowbackFigure], fields: Sequence[str]
) -> list[tuple[tuple[Any, ...], Decimal, int]]:
    """(the values of ``fields``, amount, count) per group. PostgreSQL sums the numeric column
    exactly; SQLite may hold a decimal as a float, so its rows are summed here, exactly."""
    if connection.vendor == "postgresql":
        return [
            (tuple(row[f] for f in fields), row["spent"], row["counted"])
            for row in figures.values(*fields).annotate(spent=Sum("amount"), counted=Sum("count"))
        ]
    groups: dict[tuple[Any, ...], list[Any]] = {}
    with localcontext() as context:
        context.prec = 60
        for *key, amount, count in figures.values_list(*fields, "amount", "count"):
            entry = groups.setdefault(tuple(key), [ZERO, 0])
            entry[0] += amount
            entry[1] += count
    return [(key, amount, count) for key, (amount, count) in groups.items()]


def _stored_answer(
    viewer: Viewer,
    tag_key: str,
    period: date | None,
    filters: _Filters,
    state: ShowbackState | None = None,
) -> _Period | None:
    """The answer from the stored figures, or ``None`` when they cannot give it exactly (not
    stored for this key, out of date, a region or service filter, or a viewer who does not
    see every account where a charge names another account's resource). ``state``: the
    stored state already found to hold (:func:`_stored_state`), for a caller asking of
    several periods."""
    state = state or _stored_state(tag_key, filters)
    if state is None:
        return None
    scope = _stored_scope(viewer, filters, period, state)
    if scope is None:
        return None
    version = current_version()
    rules = _rules(tag_key)
    shared_rules = _shared_rules(tag_key)
    figures = ShowbackFigure.objects.filter(
        tag_key=tag_key, period_start=scope.start, source_format=scope.source_format
    )
    if scope.accounts is not None:
        figures = figures.filter(account_id__in=scope.accounts)
    if filters.resource_types:
        figures = figures.filter(resource_type__in=filters.resource_types)
    spend: dict[Slot, Decimal] = defaultdict(Decimal)
    allocated = _Allocated()
    total = ZERO
    with localcontext() as context:
        context.prec = 60
        fields = ("kind", "value", "allocated_kind", "allocated_value", "rule")
        for (kind, value, a_kind, a_value, rule, service, category), amount, _ in _summed(
            figures.filter(measure=SPEND), (*fields, "service", "charge_category")
        ):
            slot = _slot(kind, value)
            placed = _slot(a_kind, a_value)
            spend[slot] += amount
            allocated.spend[placed] += amount
            total += amount
            if rule:
                allocated.by_rule[a_value][rule] += amount
            elif placed == _UNATTRIBUTABLE_SLOT:
                allocated.unattributable[(service, category)] += amount
        _share(allocated, shared_rules)
    counts: dict[str, dict[Slot, int]] = {TAGGED: defaultdict(int), ALLOCATED: defaultdict(int)}
    for (measure, kind, value), _, count in _summed(
        figures.exclude(measure=SPEND), ("measure", "kind", "value")
    ):
        counts[measure][_slot(kind, value)] += count
    return _Period(
        start=scope.start,
        newest=None,
        currency=scope.currency,
        tally=_Tally(),
        rules=rules,
        shared_rules=shared_rules,
        rules_version=version.version if version is not None else None,
        stored=_Figures(spend, counts[TAGGED], allocated, counts[ALLOCATED], total),
        stored_source=scope.source_format,
    )


def _slot(kind: str, value: str) -> Slot:
    """A stored cell's slot: values keep their value, buckets have none."""
    return (kind, value) if kind in (VALUE, INVALID) else (kind, None)
