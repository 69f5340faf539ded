"""Reading the stored costs: the figures of ``selectors``, or ``None`` where they do not hold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import cast

from django.db.models import F, QuerySet

from compliance.core import costs
from compliance.models import BillingImport, Resource
from compliance.models.inventory import AttributedCost, CostAttributionState
from compliance.stored.costs.latest_money import (
    BILL_FORMATS,
    ESTIMATE,
    ROWS_FORMAT,
    AccountMoney,
    active_exemptions,
)
from compliance.stored.costs.matching import CHUNK, binary

Kind = AttributedCost.Kind
ZERO = costs.ZERO


@dataclass(frozen=True, slots=True)
class Scope:
    """The accounts a figure covers: registered account ids, and whether it also covers the
    charges of accounts that are not registered and of none (a viewer who sees every account
    and does not narrow to some)."""

    accounts: frozenset[str]
    everything: bool = False


@dataclass(frozen=True, slots=True)
class Money:
    """Which money a scope's figures are: a bill's period (``newest``: its newest import there,
    whose format the figures use) or a Cost Explorer period."""

    source: str
    period: datetime
    newest: BillingImport | None = None

    @property
    def cost_source(self) -> str:
        return self.newest.source_format if self.newest is not None else ESTIMATE


class Stored:
    """The stored figures, when they still hold."""

    def __init__(self, state: CostAttributionState) -> None:
        self.state = state
        self.money = {a: AccountMoney.from_json(m) for a, m in state.money.items()}
        self.cross_account = {(line, resource) for line, resource in state.cross_account}

    @classmethod
    def load(cls, now: datetime, *, exemptions: bool) -> Stored | None:
        """The stored figures if nothing they depend on changed since; with ``exemptions``,
        also only if the exemptions active at ``now`` are those active then (a resource's
        cost does not depend on them, the gap and the cost at stake do)."""
        state = CostAttributionState.objects.filter(pk=1).first()
        if state is None or now < state.computed_at or state.changes != state.computed_changes:
            return None
        if any(m.get("rows") != ROWS_FORMAT for m in state.money.values()):
            return None  # stored by an older refresh, under another meaning
        if exemptions and active_exemptions(now) != (
            state.exemptions_active,
            state.last_exemption_id,
        ):
            return None
        return cls(state)

    def _accounts(self, scope: Scope) -> tuple[list[str], list[str]]:
        """Accounts whose bill lines, and whose Cost Explorer figures, the scope covers."""
        billed = [
            a
            for a, m in self.money.items()
            if m.bill_period is not None and (scope.everything or a in scope.accounts)
        ]
        estimated = [
            a
            for a, m in self.money.items()
            if m.estimate_period is not None and a in scope.accounts
        ]
        return billed, estimated

    def money_of(self, scope: Scope, period: datetime | None) -> tuple[bool, Money | None]:
        """(whether the stored rows answer, and with which money) for ``scope`` and ``period``
        (``None``: the latest), chosen as ``selectors.cost_attribution`` chooses."""
        billed, estimated = self._accounts(scope)
        latest_bill = max(
            (p for a in billed if (p := self.money[a].bill_period) is not None), default=None
        )
        latest_estimate = max(
            (p for a in estimated if (p := self.money[a].estimate_period) is not None),
            default=None,
        )
        bill = latest_bill is not None and (period is None or period == latest_bill)
        estimate = latest_estimate is not None and (
            (period is None or period == latest_estimate)
            and (latest_bill is None or latest_estimate > latest_bill)
        )
        if estimate:
            assert latest_estimate is not None
            return self.state.estimates_stored, Money(ESTIMATE, latest_estimate)
        if bill:
            assert latest_bill is not None
            if not scope.everything and any(
                line in billed and resource not in scope.accounts
                for line, resource in self.cross_account
            ):
                return False, None
            import_ids = _scoped(
                AttributedCost.objects.filter(
                    kind=Kind.SPLIT, period_start=latest_bill, cost_source__in=BILL_FORMATS
                ),
                scope,
            ).values("billing_import_id")
            newest = (
                BillingImport.objects.filter(pk__in=import_ids)
                .order_by("-imported_at", "-id")
                .first()
            )
            if newest is None:
                return False, None
            return True, Money("bill", latest_bill, newest)
        if period is None:
            return True, None  # no money at all for this scope
        return False, None

    def account_costs(
        self, scope: Scope, source: str, period: datetime
    ) -> tuple[set[str], set[str]] | None:
        """The accounts of ``scope`` whose resources' stored ``monthly_cost`` is their cost in
        the money of ``source`` (a bill format, or ``estimate``) and ``period``, and those
        whose resources cost nothing in it (it does not charge that account); ``None`` when
        some account is neither (its cost would be in another bill format)."""
        stored: set[str] = set()
        nothing: set[str] = set()
        for account_id in scope.accounts:
            account_money = self.money.get(account_id, AccountMoney())
            shown = account_money.shown
            if source == ESTIMATE:
                same = shown == (ESTIMATE, period)
            elif shown != ("bill", period):
                same = False
            elif account_money.bill_format == source:
                same = True
            else:
                return None
            (stored if same else nothing).add(account_id)
        return stored, nothing


def _scoped(rows: QuerySet[AttributedCost], scope: Scope) -> QuerySet[AttributedCost]:
    return rows if scope.everything else rows.filter(account_id__in=scope.accounts)


@dataclass(frozen=True, slots=True)
class StoredAttribution:
    money: Money | None
    attribution: costs.Attribution
    #: Currencies of the bill's imports the figures come from (bills only).
    currencies: list[str]


def attribution(
    scope: Scope,
    period: datetime | None,
    *,
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    required_tags: Collection[str] = (),
    now: datetime,
) -> StoredAttribution | None:
    """The attribution of ``selectors.cost_attribution`` from the stored rows, or ``None``."""
    stored = Stored.load(now, exemptions=True)
    if stored is None:
        return None
    answers, money = stored.money_of(scope, period)
    if not answers:
        return None
    result = costs.Attribution.for_keys(required_tags)
    if money is None:
        return StoredAttribution(None, result, [])
    rows = _scoped(
        AttributedCost.objects.filter(
            kind__in=(Kind.SPLIT, Kind.UNTAGGED),
            period_start=money.period,
            cost_source=money.cost_source,
        ),
        scope,
    )
    if regions:
        rows = rows.filter(region__in=regions)
    # The type filter keeps charges on inventory resources of those types only.
    types = set(resource_types) - {costs.NO_RESOURCE, costs.NOT_IN_INVENTORY}
    currencies: set[str] = set()
    untagged: list[tuple[str, str, Decimal]] = []
    with localcontext() as context:
        context.prec = 60
        for row in rows.order_by("pk").iterator(chunk_size=CHUNK):
            if row.kind == Kind.SPLIT:
                currencies.add(row.currency)  # of the lines the region filter keeps
            if resource_types and row.resource_type not in types:
                continue
            if row.kind == Kind.UNTAGGED:
                untagged.append((row.tag_key, row.violation_type, row.amount))
                continue
            where = (
                row.account_id,
                row.region,
                row.service,
                row.resource_type,
                row.charge_category,
            )
            for bucket in costs.BUCKETS:
                result.charge(where, bucket, getattr(row, bucket))
        for tag, how, amount in sorted(untagged, key=lambda item: item[0]):
            result.charge_key(tag, costs.key_absent(how), amount)
    currencies_list = sorted(currencies) if money.source == "bill" else []
    return StoredAttribution(money, result, currencies_list)


def _money_for_costs(
    scope: Scope, period: datetime | None, now: datetime, *, exemptions: bool = False
) -> tuple[Money | None, set[str]] | None:
    """(money, accounts whose stored ``monthly_cost`` is in it) when the stored per-resource
    costs answer for ``scope`` (``exemptions`` as :meth:`Stored.load`); ``None`` otherwise."""
    stored = Stored.load(now, exemptions=exemptions)
    if stored is None or stored.cross_account:
        return None
    answers, money = stored.money_of(scope, period)
    if not answers:
        return None
    if money is None:
        return None, set()
    split = stored.account_costs(scope, money.cost_source, money.period)
    if split is None:
        return None
    return money, split[0]


def costs_of(
    scope: Scope, resources: QuerySet[Resource], period: datetime | None, now: datetime
) -> dict[str, Decimal | None] | None:
    """Each of ``resources``' cost, as ``selectors.resource_costs`` gives it, or ``None``."""
    found = _money_for_costs(scope, period, now)
    if found is None:
        return None
    money, stored_accounts = found
    rows = resources.values_list("arn", "account__account_id", "monthly_cost")
    if money is None:
        return {arn: None for arn, _, _ in rows}
    return {
        arn: (cost if account_id in stored_accounts else ZERO) for arn, account_id, cost in rows
    }


@dataclass(frozen=True, slots=True)
class RuleCosts:
    """Cost at stake per rule (tag key, violation type) and over every rule of a narrowing;
    ``None`` amounts when no money is loaded for the viewer."""

    costed: bool
    by_rule: dict[tuple[str, str], Decimal]
    total: Decimal


def rule_costs(
    scope: Scope,
    accounts: Collection[str] | None = None,
    *,
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    violation_type: str = "",
    tag_name: str = "",
    now: datetime,
) -> RuleCosts | None:
    """The money of ``violation_rules.violations_by_rule`` from the stored rows, or ``None``.

    The money is the one of ``scope`` (the viewer's accounts); the rows are those of
    ``accounts`` when the page narrows to some."""
    found = _money_for_costs(scope, None, now, exemptions=True)
    if found is None:
        return None
    money, stored_accounts = found
    if money is None:
        return RuleCosts(costed=False, by_rule={}, total=ZERO)
    shown = stored_accounts & set(accounts if accounts is not None else scope.accounts)
    rows = AttributedCost.objects.filter(
        kind=Kind.AT_STAKE,
        period_start=money.period,
        cost_source=money.cost_source,
        account_id__in=shown,
    )
    if regions:
        rows = rows.filter(region__in=regions)
    if resource_types:
        rows = rows.filter(resource_type__in=resource_types)
    if tag_name:
        rows = rows.filter(tag_key=tag_name)
    if violation_type:
        rows = rows.filter(violation_type=violation_type)
    by_rule: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    total = ZERO
    with localcontext() as context:
        context.prec = 60
        for tag, kind, amount in rows.values_list("tag_key", "violation_type", "amount"):
            if tag and kind:
                by_rule[(tag, kind)] += amount
            if tag == tag_name and kind == violation_type:
                total += amount
    return RuleCosts(costed=True, by_rule=dict(by_rule), total=total)


def costliest(
    scope: Scope, resources: QuerySet[Resource], limit: int, now: datetime
) -> list[tuple[str, Decimal]] | None:
    """The ``limit`` costliest of ``resources`` with a positive cost, highest first (then by
    ARN), as ``dashboard_figures.costliest_violations`` ranks them; or ``None``."""
    found = _money_for_costs(scope, None, now)
    if found is None:
        return None
    money, stored_accounts = found
    if money is None:
        return []
    return top_costed(
        resources.filter(account__account_id__in=stored_accounts, monthly_cost__gt=0), limit
    )


def top_costed(costed: QuerySet[Resource], limit: int) -> list[tuple[str, Decimal]]:
    """The ``limit`` resources of ``costed`` (resources with a stored cost, none ``NULL``) with
    the highest cost, then by ARN in code point order, as ``(arn, monthly_cost)``."""
    # Walk the cost index (highest first) for the ``limit``-th cost, then rank by ARN only the
    # resources costing that much: ordering everything by cost and ARN at once would sort every
    # costed resource, since the index does not keep ARNs in code point order.
    costs = list(
        costed.order_by(F("monthly_cost").desc()).values_list("monthly_cost", flat=True)[:limit]
    )
    if not costs:
        return []
    last = costs[-1]
    above = list(
        costed.filter(monthly_cost__gt=last)
        .order_by(F("monthly_cost").desc(), binary(F("arn")))
        .values_list("arn", "monthly_cost")
    )
    at_last = costed.filter(monthly_cost=last).order_by(binary(F("arn")))
    ranked = above + list(at_last.values_list("arn", "monthly_cost")[: limit - len(above)])
    return cast("list[tuple[str, Decimal]]", ranked)  # ``costed`` holds no NULL cost


def listing_accounts(
    scope: Scope, period: datetime, source_format: str, now: datetime
) -> tuple[set[str], set[str]] | None:
    """For the resources list priced from the bill of ``period`` and ``source_format``: the
    accounts whose stored ``monthly_cost`` is that bill's, and those that bill does not charge
    (zero); ``None`` when the stored costs cannot tell."""
    stored = Stored.load(now, exemptions=False)
    if stored is None or stored.cross_account:
        return None
    return stored.account_costs(scope, source_format, period)
