"""Computing the stored costs: once per import, fetch and finalisation, streaming."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from compliance.core import costs
from compliance.models import (
    AwsAccount,
    BillingImport,
    CostExplorerFigure,
    CostLine,
    Resource,
    Violation,
)
from compliance.models.inventory import AttributedCost, CostAttributionState
from compliance.stored.costs.billed import judge_billed_resources
from compliance.stored.costs.latest_money import ESTIMATE, AccountMoney, active_exemptions
from compliance.stored.costs.matching import CHUNK, Line, binary, matched_lines

#: Resources per UPDATE of their monthly cost.
UPDATE_BATCH = 2000

Kind = AttributedCost.Kind
ZERO = costs.ZERO


@dataclass(frozen=True, slots=True)
class _EstimatePart:
    """One Cost Explorer service cost split over the resources of its account and region."""

    region: str
    service: str
    currency: str
    part: Decimal
    first: Decimal
    first_arn: str


#: (source, period start, import id or None, currency) of a split or untagged row.
MoneyKey = tuple[str, datetime, int | None, str]


@dataclass(slots=True)
class _Totals:
    split: dict[tuple[str, str, str, str, str, MoneyKey], costs.CostSplit] = field(
        default_factory=dict
    )
    #: (account, region, type, tag key, how it is broken, money): ``how`` is the violation
    #: type when the resource is without the key (``costs.key_absent``), empty otherwise.
    untagged: dict[tuple[str, str, str, str, str, MoneyKey], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    at_stake: dict[tuple[str, str, str, str, str, str, datetime], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    cross_account: set[tuple[str, str]] = field(default_factory=set)

    def charge(
        self,
        bucket: str,
        where: tuple[str, str, str, str, str],
        money: MoneyKey,
        cost: Decimal,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """``tags``: required tag key -> how the resource breaks it (see ``untagged``)."""
        self.split.setdefault((*where, money), costs.CostSplit()).add(bucket, cost)
        account, region, _, resource_type, _ = where
        for tag, how in (tags or {}).items():
            self.untagged[(account, region, resource_type, tag, how, money)] += cost


def _account_money() -> dict[str, AccountMoney]:
    latest_bill = dict(
        CostLine.objects.values("account_id")
        .annotate(latest=Max("billing_period_start"))
        .order_by()
        .values_list("account_id", "latest")
    )
    newest: dict[str, str] = {}
    imports: dict[str, tuple[datetime, int]] = {}
    for account_id, start, imported_at, import_id, source_format in (
        CostLine.objects.filter(billing_period_start__in=set(latest_bill.values()))
        .values_list(
            "account_id",
            "billing_period_start",
            "billing_import__imported_at",
            "billing_import_id",
            "billing_import__source_format",
        )
        .order_by()
        .distinct()
    ):
        if start != latest_bill[account_id]:
            continue
        if account_id not in imports or (imported_at, import_id) > imports[account_id]:
            imports[account_id] = (imported_at, import_id)
            newest[account_id] = source_format
    latest_estimate = dict(
        CostExplorerFigure.objects.values("account_id")
        .annotate(latest=Max("period_start"))
        .order_by()
        .values_list("account_id", "latest")
    )
    return {
        account_id: AccountMoney(
            bill_period=latest_bill.get(account_id),
            bill_format=newest.get(account_id, ""),
            estimate_period=latest_estimate.get(account_id),
        )
        for account_id in latest_bill.keys() | latest_estimate.keys()
    }


def _estimate_parts(
    money: dict[str, AccountMoney], totals: _Totals
) -> dict[tuple[str, str, str], list[_EstimatePart]]:
    """Cost Explorer's service costs of the accounts showing an estimate, split as
    :func:`compliance.core.costs.estimated_charges` splits them, per (account, region, type).

    Charges that go to no resource are added to ``totals`` here."""
    periods = {a: m.shown[1] for a, m in money.items() if m.shown and m.shown[0] == ESTIMATE}
    if not periods:
        return {}
    placed: dict[tuple[str, str, str], tuple[int, str]] = {
        (account_id, region, resource_type): (n, first)
        for account_id, region, resource_type, n, first in Resource.objects.filter(
            gone_since__isnull=True, account__account_id__in=periods
        )
        .values("account__account_id", "region", "resource_type")
        .annotate(n=Count("id"), first=Min(binary(F("arn"))))
        .order_by()
        .values_list("account__account_id", "region", "resource_type", "n", "first")
    }
    parts: dict[tuple[str, str, str], list[_EstimatePart]] = defaultdict(list)
    figures = CostExplorerFigure.objects.filter(
        account_id__in=periods, dimension=CostExplorerFigure.Dimension.SERVICE
    ).order_by("pk")
    with localcontext() as context:
        context.prec = 60
        for figure in figures.iterator(chunk_size=CHUNK):
            if figure.period_start != periods[figure.account_id]:
                continue
            money_key: MoneyKey = (ESTIMATE, figure.period_start, None, figure.currency)
            types = costs.estimate_types(figure.key)
            found = [
                placed[(figure.account_id, figure.region, t)]
                for t in types or ()
                if (figure.account_id, figure.region, t) in placed
            ]
            count = sum(n for n, _ in found)
            if not count:
                # Tax and fees name no resource; a service nobody scanned names one not held.
                bucket, resource_type = costs.bucket_of(types is not None, None, False)
                where = (figure.account_id, figure.region, figure.key, resource_type)
                totals.charge(bucket, (*where, costs.ESTIMATE_CATEGORY), money_key, figure.amount)
                continue
            assert types is not None
            first, part = costs.estimate_shares(figure.amount, count)
            estimate = _EstimatePart(
                region=figure.region,
                service=figure.key,
                currency=figure.currency,
                part=part,
                first=first,
                first_arn=min(first_arn for _, first_arn in found),
            )
            for resource_type in types:
                parts[(figure.account_id, figure.region, resource_type)].append(estimate)
    return parts


def _groups(
    rows: Iterable[Any], key: Callable[[Any], int | None], on_none: Callable[[Any], None]
) -> Iterator[tuple[int, list[Any]]]:
    """Rows ordered by ``key``, grouped; rows whose key is ``None`` go to ``on_none``."""
    current: int | None = None
    group: list[Any] = []
    for row in rows:
        value = key(row)
        if value is None:
            on_none(row)
            continue
        if value != current and group:
            assert current is not None
            yield current, group
            group = []
        current = value
        group.append(row)
    if group:
        assert current is not None
        yield current, group


#: The tables whose planner statistics the refresh renews: the bill lines before it matches
#: them (an import writes them in the caller's transaction, before autovacuum can sample them),
#: the resources after it has re-costed them.
_ANALYSE_LINES = "ANALYZE compliance_costline"
_ANALYSE_RESOURCES = "ANALYZE compliance_resource"


def _analyse(statement: str) -> None:
    """Renew PostgreSQL's statistics (ANALYZE samples, so it stays cheap at any size; inside a
    transaction it counts the rows that transaction wrote)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(statement)


def refresh_costs(now: datetime | None = None) -> None:
    """Recompute every stored cost figure from the current inventory, violations and money.

    Called by the import, the Cost Explorer fetch and the finalisation (in their transaction,
    after they have written). Holds the accounts' row locks, as a finalisation does, so that
    no finalisation changes the inventory while it reads.
    """
    now = now or timezone.now()
    with transaction.atomic():
        list(AwsAccount.objects.select_for_update().order_by("account_id").values_list("pk"))
        state, _ = CostAttributionState.objects.select_for_update().get_or_create(
            pk=1, defaults={"computed_at": now}
        )
        exemptions = active_exemptions(now)
        _analyse(_ANALYSE_LINES)  # a million new lines planned as a few: tens of minutes
        registered = sorted(AwsAccount.objects.values_list("account_id", flat=True))
        money = _account_money()
        estimates_stored = not Resource.objects.filter(
            gone_since__isnull=True, arn__contains=costs.NO_SCANNED_RESOURCE
        ).exists()
        totals = _Totals()
        _attribute_everything(money, registered, totals, now)
        judge_billed_resources()
        _analyse(_ANALYSE_RESOURCES)  # their costs may all have changed, and the plans with them
        AttributedCost.objects.all().delete()
        AttributedCost.objects.bulk_create(_rows(totals), batch_size=1000)
        # The writes above touch nothing the triggers watch: ``changes`` is as read.
        state.computed_changes = state.changes
        state.exemptions_active, state.last_exemption_id = exemptions
        state.computed_at = now
        state.money = {account_id: m.as_json() for account_id, m in sorted(money.items())}
        state.cross_account = sorted([list(pair) for pair in totals.cross_account])
        state.estimates_stored = estimates_stored
        state.save()


def _attribute_everything(
    money: dict[str, AccountMoney], registered: Sequence[str], totals: _Totals, now: datetime
) -> None:
    if not money:  # no bill, no Cost Explorer figure: nothing to attribute, no resource costed
        Resource.objects.filter(
            Q(monthly_cost__isnull=False) | Q(cost_period_start__isnull=False)
        ).update(monthly_cost=None, cost_period_start=None)
        return
    bill_periods: dict[datetime, list[str]] = defaultdict(list)
    for account_id, account_money in sorted(money.items()):
        shown = account_money.shown
        if shown is not None and shown[0] == "bill":
            bill_periods[shown[1]].append(account_id)
    imports: dict[int, MoneyKey] = {}

    def money_key(line: Line) -> MoneyKey:
        if line.billing_import_id not in imports:
            bill = BillingImport.objects.only(
                "source_format", "billing_period_start", "currency"
            ).get(pk=line.billing_import_id)
            imports[line.billing_import_id] = (
                bill.source_format,
                bill.billing_period_start,
                bill.pk,
                bill.currency,
            )
        return imports[line.billing_import_id]

    def unmatched(line: Line) -> None:
        bucket, resource_type = costs.bucket_of(line.names_resource, None, False)
        where = (line.account_id, line.region, line.service, resource_type, line.charge_category)
        totals.charge(bucket, where, money_key(line), line.cost)

    estimate_parts = _estimate_parts(money, totals)
    present = Resource.objects.filter(gone_since__isnull=True).order_by("pk")
    resources = present.values_list(
        "pk",
        "account__account_id",
        "region",
        "resource_type",
        "arn",
        "monthly_cost",
        "cost_period_start",
    ).iterator(chunk_size=CHUNK)
    violations = (
        Violation.objects.filter(resource__gone_since__isnull=True)
        .active(now)
        .order_by("resource_id", "id")
        .values_list("resource_id", "tag_name", "violation_type")
        .iterator(chunk_size=CHUNK)
    )
    billed = {account_id for accounts in bill_periods.values() for account_id in accounts}
    line_groups = _groups(
        matched_lines(bill_periods, sorted(billed & set(registered))),
        lambda line: line.resource_id,
        unmatched,
    )
    rule_groups = _groups(violations, lambda row: row[0], lambda row: None)
    next_lines = next(line_groups, None)
    next_rules = next(rule_groups, None)
    updates: list[tuple[int, Decimal | None, datetime | None]] = []
    with localcontext() as context:
        context.prec = 60
        for pk, account_id, region, resource_type, arn, stored, stored_period in resources:
            lines: list[Line] = []
            if next_lines is not None and next_lines[0] == pk:
                lines = next_lines[1]
                next_lines = next(line_groups, None)
            rules: list[tuple[int, str, str]] = []
            while next_rules is not None and next_rules[0] <= pk:
                if next_rules[0] == pk:
                    rules = next_rules[1]
                next_rules = next(rule_groups, None)
            if next_lines is not None and next_lines[0] < pk:
                raise RuntimeError("a bill line matched a resource that is not present")
            tags: dict[str, str] = {}
            for _, tag, kind in rules:
                # At most one violation of a key leaves it absent; the others find it present.
                if costs.key_absent(kind) or tag not in tags:
                    tags[tag] = kind if costs.key_absent(kind) else ""
            bucket, _ = costs.bucket_of(True, resource_type, bool(tags))
            account_money = money.get(account_id, AccountMoney())
            shown = account_money.shown
            cost = ZERO
            for line in lines:
                where = (line.account_id, line.region, line.service, resource_type)
                totals.charge(
                    bucket, (*where, line.charge_category), money_key(line), line.cost, tags
                )
                if not costs.counts_in_monthly_cost(line.account_id, account_id):
                    totals.cross_account.add((line.account_id, account_id))
                elif money_key(line)[0] == account_money.bill_format:
                    cost += line.cost
            if shown is not None and shown[0] == ESTIMATE:
                cost = ZERO
                for estimate in estimate_parts.get((account_id, region, resource_type), ()):
                    share = estimate.first if arn == estimate.first_arn else estimate.part
                    totals.charge(
                        bucket,
                        (
                            account_id,
                            region,
                            estimate.service,
                            resource_type,
                            costs.ESTIMATE_CATEGORY,
                        ),
                        (ESTIMATE, shown[1], None, estimate.currency),
                        share,
                        tags,
                    )
                    cost += share
            new_cost, period = (cost, shown[1]) if shown is not None else (None, None)
            if shown is not None and rules:
                source = account_money.bill_format if shown[0] == "bill" else ESTIMATE
                keys = {(tag, kind) for _, tag, kind in rules}
                keys |= {(tag, "") for tag, _ in keys} | {("", kind) for _, kind in keys}
                keys.add(("", ""))
                for tag, kind in keys:
                    totals.at_stake[
                        (account_id, region, resource_type, tag, kind, source, shown[1])
                    ] += cost
            if new_cost != stored or period != stored_period:
                updates.append((pk, new_cost, period))
                if len(updates) == UPDATE_BATCH:
                    _update_costs(updates)
                    updates = []
        if next_lines is not None:
            raise RuntimeError("a bill line matched a resource that is not present")
    _update_costs(updates)


def _update_costs(updates: list[tuple[int, Decimal | None, datetime | None]]) -> None:
    """Write monthly costs in one statement per batch (an UPDATE joined to the new values)."""
    if not updates:
        return
    table = connection.ops.quote_name(Resource._meta.db_table)
    period_type = "TIMESTAMP WITH TIME ZONE" if connection.vendor == "postgresql" else "TEXT"
    values = ", ".join([f"(%s, CAST(%s AS NUMERIC), CAST(%s AS {period_type}))"] * len(updates))
    params: list[Any] = []
    for pk, cost, period in updates:
        params.extend(
            [
                pk,
                connection.ops.adapt_decimalfield_value(cost) if cost is not None else None,
                connection.ops.adapt_datetimefield_value(period),
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH fresh (id, cost, period) AS (VALUES {values}) "  # noqa: S608 (parameters)
            f"UPDATE {table} SET monthly_cost = fresh.cost, cost_period_start = fresh.period "
            f"FROM fresh WHERE {table}.id = fresh.id",
            params,
        )


def _money_fields(money: MoneyKey) -> dict[str, Any]:
    source, period, import_id, currency = money
    return {
        "period_start": period,
        "cost_source": source,
        "billing_import_id": import_id,
        "currency": currency,
    }


def _rows(totals: _Totals) -> Iterator[AttributedCost]:
    for (
        account_id,
        region,
        service,
        resource_type,
        category,
        money,
    ), split in totals.split.items():
        yield AttributedCost(
            kind=Kind.SPLIT,
            account_id=account_id,
            **_money_fields(money),
            region=region,
            service=service,
            resource_type=resource_type,
            charge_category=category,
            attributable=split.attributable,
            attribution_gap=split.attribution_gap,
            unattributable=split.unattributable,
            unmatched_resource=split.unmatched_resource,
        )
    for (account_id, region, resource_type, tag, how, money), amount in totals.untagged.items():
        yield AttributedCost(
            kind=Kind.UNTAGGED,
            account_id=account_id,
            **_money_fields(money),
            region=region,
            resource_type=resource_type,
            tag_key=tag,
            violation_type=how,
            amount=amount,
        )
    for key, amount in totals.at_stake.items():
        account_id, region, resource_type, tag, kind, source, period = key
        yield AttributedCost(
            kind=Kind.AT_STAKE,
            account_id=account_id,
            period_start=period,
            cost_source=source,
            region=region,
            resource_type=resource_type,
            tag_key=tag,
            violation_type=kind,
            amount=amount,
        )
