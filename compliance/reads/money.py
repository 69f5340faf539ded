"""Money for one caller: the cost attribution (attributable, unattributable, untagged and
non-compliant spend), each resource's monthly cost, and the Cost Explorer estimate when no bill
is loaded. From the stored costs (``compliance.stored.costs``) while they hold, computed with
the core's definitions (``compliance.core.costs``) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import Max, QuerySet
from django.utils import timezone

from compliance.core import costs
from compliance.models import (
    BillingImport,
    CostExplorerFigure,
    CostLine,
    Resource,
    Violation,
)
from compliance.permissions.accounts import (
    Viewer,
    sees_all_accounts,
    visible_account_ids,
)
from compliance.reads.resources import (
    ResourceFilter,
    present_resources,
    required_tags,
    scoped_accounts,
)
from compliance.stored import costs as stored_costs


@dataclass(frozen=True, slots=True)
class CostAttribution:
    """The attribution figures of one billing period, over what the viewer may see.

    ``cost_source`` is ``focus`` or ``cur`` (which bill the figures come from), ``estimate``
    (Cost Explorer figures only; see ``estimate_method``), or ``None``
    when no bill is loaded for the viewer's accounts, in which case every amount is zero.
    Amounts are exact; round with :func:`compliance.core.costs.to_cents` to show them.
    """

    cost_source: str | None
    period_start: datetime | None
    period_end: datetime | None
    currency: str | None
    total_spend: Decimal
    attributable_spend: Decimal
    attribution_gap: Decimal
    unattributable_spend: Decimal
    unmatched_resource_spend: Decimal
    #: Required tag key -> spend of resources without it; ``noncompliant_spend``: violating it in
    #: any way. Both as :mod:`compliance.core.costs` defines them.
    untagged_spend: dict[str, Decimal]
    noncompliant_spend: dict[str, Decimal]
    by_account: dict[str, costs.CostSplit]
    by_region: dict[str, costs.CostSplit]
    by_service: dict[str, costs.CostSplit]
    by_resource_type: dict[str, costs.CostSplit]
    by_charge_category: dict[str, costs.CostSplit]
    #: With ``cost_source == "estimate"``: how the per-resource figures were estimated.
    estimate_method: str | None = None
    #: Resources not in the inventory, judged from their tags on the bill (bills only); their
    #: spend is part of ``unmatched_resource_spend``.
    judged_by_bill: costs.BillJudged = field(default_factory=lambda: costs.BillJudged())
    #: The costliest violating ones, highest spend first (``stored_costs.LISTED`` at most).
    bill_judged_resources: list[stored_costs.BillJudgedResource] = field(default_factory=list)

    @property
    def attribution_gap_with_bill(self) -> Decimal:
        """The gap of the inventory's resources and of the bill-judged ones."""
        return self.attribution_gap + self.judged_by_bill.gap

    @property
    def judged(self) -> costs.JudgedSplit:
        """Total spend judged by a scan, from the bill, and not at all; adding up to it."""
        return costs.judged_split(
            self.attributable_spend,
            self.attribution_gap,
            self.unattributable_spend,
            self.unmatched_resource_spend,
            self.judged_by_bill.spend,
        )


def _as_period(period: date | datetime) -> datetime:
    if isinstance(period, datetime):
        return period if timezone.is_aware(period) else period.replace(tzinfo=UTC)
    return datetime(period.year, period.month, period.day, tzinfo=UTC)


def visible_cost_lines(viewer: Viewer, account_ids: Sequence[str] = ()) -> QuerySet[CostLine]:
    """Cost lines of the accounts the viewer may see.

    A bill may name accounts that are not registered, or none (billing-account charges): only
    viewers who see every account see those, and only while they do not narrow to accounts.
    """
    accounts = scoped_accounts(viewer, account_ids)
    lines = CostLine.objects.all()
    if account_ids or not sees_all_accounts(viewer):
        lines = lines.filter(account_id__in=accounts.values("account_id"))
    return lines


def _period_lines(
    viewer: Viewer, account_ids: Sequence[str], period: date | datetime | None
) -> tuple[QuerySet[CostLine], BillingImport | None]:
    """The viewer's lines of one billing period (default: the latest), from one bill format.

    When both a FOCUS and a CUR bill cover a period, the most recently imported format is used
    (both describe the same money; adding them would count it twice).
    """
    lines = visible_cost_lines(viewer, account_ids)
    if period is None:
        latest = lines.aggregate(latest=Max("billing_period_start"))["latest"]
        if latest is None:
            return lines.none(), None
        start = latest
    else:
        start = _as_period(period)
    return newest_format_lines(lines.filter(billing_period_start=start))


def newest_format_lines(
    lines: QuerySet[CostLine],
) -> tuple[QuerySet[CostLine], BillingImport | None]:
    """``lines`` (one period's) of the most recently imported bill format, and that import:
    a FOCUS and a CUR bill of the same period describe the same money, so one is read."""
    newest = (
        BillingImport.objects.filter(pk__in=lines.values("billing_import_id"))
        .order_by("-imported_at", "-id")
        .first()
    )
    if newest is None:
        return lines.none(), None
    return lines.filter(source_format=newest.source_format), newest


def _charges(lines: QuerySet[CostLine]) -> Iterator[costs.Charge]:
    for row in lines.values_list(
        "account_id", "region", "service", "resource_id", "charge_category", "effective_cost"
    ).iterator(chunk_size=5000):
        yield costs.Charge(*row)


def _inventory(resources: QuerySet[Resource]) -> list[costs.InventoryResource]:
    violating: dict[int, set[str]] = {}
    absent: dict[int, set[str]] = {}
    # Exempted violations do not widen the gap, as they do not count anywhere else.
    active = Violation.objects.filter(resource__in=resources).active(timezone.now())
    for resource_id, tag, kind in active.values_list("resource_id", "tag_name", "violation_type"):
        violating.setdefault(resource_id, set()).add(tag)
        if costs.key_absent(kind):
            absent.setdefault(resource_id, set()).add(tag)
    return [
        costs.InventoryResource(
            arn=arn,
            account_id=account_id,
            region=region,
            resource_type=resource_type,
            violating_tags=frozenset(violating.get(pk, ())),
            absent_tags=frozenset(absent.get(pk, ())),
        )
        for pk, arn, account_id, region, resource_type in resources.values_list(
            "pk", "arn", "account__account_id", "region", "resource_type"
        ).iterator(chunk_size=5000)
    ]


def cost_scope(viewer: Viewer, account_ids: Sequence[str] = ()) -> stored_costs.Scope:
    """The accounts whose money the viewer sees (narrowed to ``account_ids``), as
    :func:`visible_cost_lines` and :func:`visible_estimates` filter them."""
    if account_ids:
        shown = frozenset(scoped_accounts(viewer, account_ids).values_list("account_id", flat=True))
    else:
        shown = visible_account_ids(viewer)
    return stored_costs.Scope(
        accounts=shown, everything=sees_all_accounts(viewer) and not account_ids
    )


def cost_attribution(
    viewer: Viewer,
    where: ResourceFilter | None = None,
    period: date | datetime | None = None,
) -> CostAttribution:
    """Total, attributable, gap, unattributable and unmatched spend of one billing period.

    ``period`` is the first day of a billing period (default: the latest one loaded). A region
    filter applies to the bill's region of each charge, a resource-type filter keeps only charges
    on inventory resources of those types.

    Answered from the attribution stored at the last import, fetch or finalisation while it
    holds (see :mod:`compliance.stored.costs`); computed here otherwise. Both give the same
    figures. A bill's resources that the inventory does not hold are judged from their bill
    tags (``judged_by_bill``), the same way on both paths.
    """
    where = where or ResourceFilter()
    return _with_bill_judgement(viewer, where, _attribution(viewer, where, period))


def _with_bill_judgement(
    viewer: Viewer, where: ResourceFilter, figures: CostAttribution
) -> CostAttribution:
    bill = figures.cost_source in BillingImport.Format.values
    judged, listed = stored_costs.bill_judgement(
        cost_scope(viewer, where.account_ids),
        figures.period_start if bill else None,
        figures.cost_source if bill else None,
        regions=where.regions,
        resource_types=where.resource_types,
        required_tags=required_tags(),
    )
    return replace(figures, judged_by_bill=judged, bill_judged_resources=listed)


def _attribution(
    viewer: Viewer, where: ResourceFilter, period: date | datetime | None
) -> CostAttribution:
    stored = stored_costs.attribution(
        cost_scope(viewer, where.account_ids),
        _as_period(period) if period is not None else None,
        regions=where.regions,
        resource_types=where.resource_types,
        required_tags=required_tags(),
        now=timezone.now(),
    )
    if stored is not None:
        return _stored_attribution(viewer, where, stored)
    lines, newest = _period_lines(viewer, where.account_ids, period)
    estimate_start = estimate_period(viewer, where.account_ids, period, newest)
    if estimate_start is not None:
        return _estimated_attribution(viewer, where, estimate_start)
    if where.regions:
        lines = lines.filter(region__in=where.regions)
    resources = present_resources(viewer, ResourceFilter(account_ids=where.account_ids))
    result = costs.attribute(
        _charges(lines),
        # No bill loaded: nothing to match, so the inventory is not read at all.
        _inventory(resources) if newest is not None else [],
        required_tags=required_tags(),
        only_types=where.resource_types,
    )
    currencies = sorted(
        set(
            BillingImport.objects.filter(pk__in=lines.values("billing_import_id")).values_list(
                "currency", flat=True
            )
        )
    )
    return _billed(newest, currencies, result)


def _billed(
    newest: BillingImport | None, currencies: Sequence[str], result: costs.Attribution
) -> CostAttribution:
    """The attribution of a bill (``newest``: its newest import in the period), or of no money."""
    return CostAttribution(
        cost_source=newest.source_format if newest else None,
        period_start=newest.billing_period_start if newest else None,
        period_end=newest.billing_period_end if newest else None,
        currency=", ".join(currencies) or None,
        total_spend=result.total_spend,
        attributable_spend=result.attributable_spend,
        attribution_gap=result.attribution_gap,
        unattributable_spend=result.unattributable_spend,
        unmatched_resource_spend=result.unmatched_resource_spend,
        untagged_spend=result.untagged_spend,
        noncompliant_spend=result.noncompliant_spend,
        by_account=result.by_account,
        by_region=result.by_region,
        by_service=result.by_service,
        by_resource_type=result.by_resource_type,
        by_charge_category=result.by_charge_category,
    )


def _stored_attribution(
    viewer: Viewer, where: ResourceFilter, stored: stored_costs.StoredAttribution
) -> CostAttribution:
    money, result = stored.money, stored.attribution
    if money is not None and money.newest is None:
        return _estimated_attribution(viewer, where, money.period, result)
    return _billed(money.newest if money is not None else None, stored.currencies, result)


def resource_costs(
    viewer: Viewer, arns: Iterable[str], period: date | datetime | None = None
) -> dict[str, Decimal | None]:
    """Each visible resource's cost in the billing period (the monthly ``cost_impact_monthly``).

    Zero for a resource the bill does not charge; ``None`` for every resource when no bill is
    loaded. ARNs the viewer may not see (or that are not in the inventory) are left out.
    Answered from the stored per-resource costs while they hold, as :func:`cost_attribution`.
    """
    wanted = set(arns)
    resources = present_resources(viewer)
    shown = resources.filter(arn__in=wanted)
    stored = stored_costs.costs_of(
        cost_scope(viewer),
        shown,
        _as_period(period) if period is not None else None,
        timezone.now(),
    )
    if stored is not None:
        return stored
    accounts = set(shown.values_list("account__account_id", flat=True))
    lines, newest = _period_lines(viewer, (), period)
    estimate_start = estimate_period(viewer, (), period, newest)
    if estimate_start is not None:
        inventory = _inventory(resources.filter(account__account_id__in=accounts))
        figures = _service_costs(visible_estimates(viewer, ()), estimate_start)
        estimated = costs.estimated_charges(
            (f for f in figures if f.account_id in accounts), inventory
        )
        return dict(costs.resource_costs(estimated, inventory, wanted))
    if newest is None:
        return dict.fromkeys(shown.values_list("arn", flat=True))
    # Whether a bare id is ambiguous depends on every resource of the account.
    inventory = _inventory(resources.filter(account__account_id__in=accounts))
    keys = set(wanted)
    for item in inventory:
        if item.arn in wanted:
            keys |= costs.id_keys(item.arn)
    charges = _charges(lines.filter(account_id__in=accounts, resource_id__in=keys))
    found = costs.resource_costs(charges, inventory, wanted)
    return dict(found)


def visible_estimates(viewer: Viewer, account_ids: Sequence[str]) -> QuerySet[CostExplorerFigure]:
    """Cost Explorer figures exist only for registered accounts: filtered like their resources."""
    accounts = scoped_accounts(viewer, account_ids)
    return CostExplorerFigure.objects.filter(account_id__in=accounts.values("account_id"))


def estimate_period(
    viewer: Viewer,
    account_ids: Sequence[str],
    period: date | datetime | None,
    newest_bill: BillingImport | None,
) -> datetime | None:
    """The period to estimate from Cost Explorer, or ``None`` to use the bill.

    A bill is exact, so it wins wherever it covers the period; Cost Explorer answers for a
    period no bill covers: the one asked for, or by default its latest when that is later than
    the latest bill.
    """
    figures = visible_estimates(viewer, account_ids)
    if period is not None:
        start = _as_period(period)
        if newest_bill is None and figures.filter(period_start=start).exists():
            return start
        return None
    latest: datetime | None = figures.aggregate(latest=Max("period_start"))["latest"]
    if latest is None:
        return None
    if newest_bill is None or latest > newest_bill.billing_period_start:
        return latest
    return None


def _service_costs(
    figures: QuerySet[CostExplorerFigure], start: datetime
) -> list[costs.ServiceCost]:
    return [
        costs.ServiceCost(account_id, region, service, amount)
        for account_id, region, service, amount in figures.filter(
            period_start=start, dimension=CostExplorerFigure.Dimension.SERVICE
        ).values_list("account_id", "region", "key", "amount")
    ]


def _estimated_attribution(
    viewer: Viewer,
    where: ResourceFilter,
    start: datetime,
    result: costs.Attribution | None = None,
) -> CostAttribution:
    """The attribution of a period only Cost Explorer covers (see ``costs.ESTIMATE_METHOD``).

    ``untagged_spend`` is Cost Explorer's own cost of resources without each required key,
    exact; only with a resource-type filter, which Cost Explorer's tag groups cannot apply, is
    it the estimate's. ``noncompliant_spend`` is always the estimate's: Cost Explorer cannot
    tell a valid value from an invalid one. ``result``: the estimate's attribution, when
    already stored.
    """
    figures = visible_estimates(viewer, where.account_ids).filter(period_start=start)
    if where.regions:
        figures = figures.filter(region__in=where.regions)
    required = required_tags()
    if result is None:
        resources = present_resources(viewer, ResourceFilter(account_ids=where.account_ids))
        inventory = _inventory(resources)
        result = costs.attribute(
            costs.estimated_charges(_service_costs(figures, start), inventory),
            inventory,
            required_tags=required,
            only_types=where.resource_types,
        )
    untagged = result.untagged_spend
    if not where.resource_types:
        untagged = dict.fromkeys(sorted(required), Decimal(0))
        for tag_key, amount in figures.filter(
            dimension=CostExplorerFigure.Dimension.TAG, tag_key__in=required, key=""
        ).values_list("tag_key", "amount"):
            untagged[tag_key] += amount
    first = figures.first()
    currencies = sorted(set(figures.values_list("currency", flat=True)))
    return CostAttribution(
        cost_source="estimate",
        period_start=start,
        period_end=first.period_end if first else None,
        currency=", ".join(currencies) or None,
        total_spend=result.total_spend,
        attributable_spend=result.attributable_spend,
        attribution_gap=result.attribution_gap,
        unattributable_spend=result.unattributable_spend,
        unmatched_resource_spend=result.unmatched_resource_spend,
        untagged_spend=untagged,
        noncompliant_spend=result.noncompliant_spend,
        by_account=result.by_account,
        by_region=result.by_region,
        by_service=result.by_service,
        by_resource_type=result.by_resource_type,
        by_charge_category=result.by_charge_category,
        estimate_method=costs.ESTIMATE_METHOD,
    )
