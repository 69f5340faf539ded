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

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import Any

from django.db.models import Max, QuerySet

from compliance.core import costs
from compliance.core.policy import TagRule
from compliance.models import BillingImport, CostLine
from compliance.permissions.accounts import Viewer
from compliance.reads.money import newest_format_lines, visible_cost_lines
from compliance.reads.policy import active_policy, read_policy
from compliance.reads.resources import ResourceFilter, present_resources
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


def _check_key(tag_key: str) -> str:
    if not isinstance(tag_key, str) or not tag_key:
        raise ShowbackError("tag_key: a tag key is required")
    if len(tag_key) > MAX_TAG_KEY_LENGTH:
        raise ShowbackError(f"tag_key: at most {MAX_TAG_KEY_LENGTH} characters")
    return tag_key


def _rule_for(tag_key: str) -> TagRule | None:
    """The active policy's rule for exactly this key (required or optional), if any."""
    row = active_policy()
    if row is None:
        return None
    current = read_policy(row)
    for rule in (*current.required_tags, *current.optional_tags):
        if rule.name == tag_key:
            return rule
    return None


def value_is_valid(rule: TagRule | None, value: str) -> bool:
    """Whether the policy accepts ``value`` for the key of ``rule``: not blank, one of the
    allowed values, matching the pattern, as :func:`compliance.core.policy.evaluate` judges a
    present key. Every value is valid for a key the policy does not govern."""
    return rule is None or not rule.value_violations(value)


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


def _inventory(
    viewer: Viewer, filters: _Filters, tag_key: str
) -> tuple[list[costs.InventoryResource], dict[str, _Resource]]:
    """Every present resource of the accounts concerned (matching a bare id needs them all)."""
    resources = present_resources(viewer, ResourceFilter(account_ids=filters.accounts))
    inventory: list[costs.InventoryResource] = []
    details: dict[str, _Resource] = {}
    for arn, account_id, region, resource_type, name, tags in resources.values_list(
        "arn", "account__account_id", "region", "resource_type", "name", "tags"
    ).iterator(chunk_size=5000):
        inventory.append(costs.InventoryResource(arn, account_id, region, resource_type))
        value = tags.get(tag_key) if isinstance(tags, dict) else None
        details[arn] = _Resource(name=name, value=None if value is None else str(value))
    return inventory, details


def _charges(lines: QuerySet[CostLine], filters: _Filters) -> Iterator[costs.Charge]:
    if filters.regions:
        lines = lines.filter(region__in=filters.regions)
    if filters.services:
        lines = lines.filter(service__in=filters.services)
    for row in lines.values_list(
        "account_id", "region", "service", "resource_id", "charge_category", "effective_cost"
    ).iterator(chunk_size=5000):
        yield costs.Charge(*row)


def _tally(
    lines: QuerySet[CostLine],
    filters: _Filters,
    tag_key: str,
    rule: TagRule | None,
    inventory: tuple[list[costs.InventoryResource], dict[str, _Resource]],
) -> _Tally:
    """Each charge in its slot, matched to the inventory as ``costs.attribute`` matches it."""
    resources, details = inventory
    index = costs.ResourceIndex(resources)
    tally = _Tally()
    validity: dict[str, bool] = {}
    with localcontext() as context:
        context.prec = 60  # sums of 10-decimal amounts stay exact far beyond any bill
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
            if not charge.resource_id:
                slot = _UNATTRIBUTABLE_SLOT
            elif matched is None:
                slot = _UNMATCHED_SLOT
            else:
                detail = details[matched.arn]
                value = detail.value
                if value is None:
                    slot = _UNTAGGED_SLOT
                else:
                    valid = validity.get(value)
                    if valid is None:
                        valid = validity[value] = value_is_valid(rule, value)
                    slot = ("value" if valid else INVALID, value)
                tally.resources[slot].add(matched.arn)
                _, _, before = tally.per_resource.get(matched.arn, (matched, detail, ZERO))
                tally.per_resource[matched.arn] = (matched, detail, before + charge.cost)
            tally.spend[slot] += charge.cost
            tally.by_account[slot][charge.account_id] += charge.cost
            tally.by_service[slot][charge.service] += charge.cost
            tally.total += charge.cost
    return tally


@dataclass(frozen=True, slots=True)
class _Period:
    start: datetime | None
    newest: BillingImport | None
    currency: str | None
    tally: _Tally


def _answer(viewer: Viewer, tag_key: str, period: date | None, filters: _Filters) -> _Period:
    tag_key = _check_key(tag_key)
    start = _resolve_period(viewer, filters, period)
    if start is None:
        return _Period(None, None, None, _Tally())
    lines, newest = _bill_lines(viewer, filters, start)
    currencies = sorted(
        set(
            BillingImport.objects.filter(pk__in=lines.values("billing_import_id")).values_list(
                "currency", flat=True
            )
        )
    )
    tally = _tally(
        lines, filters, tag_key, _rule_for(tag_key), _inventory(viewer, filters, tag_key)
    )
    return _Period(start, newest, ", ".join(currencies) or None, tally)


def _rows(tally: _Tally, kind: str) -> list[ShowbackRow]:
    rows = [
        ShowbackRow(
            value=value,
            spend=amount,
            resource_count=len(tally.resources[slot]),
            valid=kind == "value",
        )
        for slot, amount in tally.spend.items()
        if slot[0] == kind and (value := slot[1]) is not None
    ]
    return sorted(rows, key=lambda row: (-row.spend, row.value))


def _bucket_total(tally: _Tally, kind: str) -> tuple[Decimal, int]:
    spend = sum((a for slot, a in tally.spend.items() if slot[0] == kind), ZERO)
    count = len(set().union(*(r for slot, r in tally.resources.items() if slot[0] == kind)))
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
    """
    filters = _Filters.of(accounts, regions, services, resource_types)
    answer = _answer(viewer, tag_key, period, filters)
    tally = answer.tally
    untagged, untagged_count = _bucket_total(tally, UNTAGGED)
    invalid, invalid_count = _bucket_total(tally, INVALID)
    return Showback(
        tag_key=tag_key,
        billing_period_start=answer.start.date() if answer.start else None,
        currency=answer.currency,
        cost_source=answer.newest.source_format if answer.newest else None,
        rows=_rows(tally, "value"),
        untagged_spend=untagged,
        untagged_count=untagged_count,
        invalid_spend=invalid,
        invalid_count=invalid_count,
        unattributable_spend=tally.spend.get(_UNATTRIBUTABLE_SLOT, ZERO),
        unmatched_resource_spend=tally.spend.get(_UNMATCHED_SLOT, ZERO),
        total_spend=tally.total,
        scan=scan_block(latest_scan(), viewer),
        invalid_rows=_rows(tally, INVALID),
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
    starts = list(
        visible_cost_lines(viewer, filters.accounts)
        .order_by("-billing_period_start")
        .values_list("billing_period_start", flat=True)
        .distinct()[:months]
    )
    if not starts:
        return []
    rule = _rule_for(tag_key)
    inventory = _inventory(viewer, filters, tag_key)
    trend: list[tuple[date, dict[str, Decimal]]] = []
    for start in sorted(starts):
        lines, _ = _bill_lines(viewer, filters, start)
        tally = _tally(lines, filters, tag_key, rule, inventory)
        point = {row.value: row.spend for row in _rows(tally, "value")}
        point[UNTAGGED_LABEL] = _bucket_total(tally, UNTAGGED)[0]
        point[INVALID_LABEL] = _bucket_total(tally, INVALID)[0]
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
) -> list[ResourceSpend]:
    """The charged resources of one value (or bucket) in the period, highest spend first
    (ties by ARN): the resources a row's ``resource_count`` counts, whose spends add up to
    the row's spend."""
    wanted = _selected(value, bucket)
    filters = _Filters.of(accounts, regions, services, resource_types)
    tally = _answer(viewer, tag_key, period, filters).tally
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
        "scan": showback.scan,
    }
