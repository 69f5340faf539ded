"""The resource inventory as a list: filtered, sorted, counted and costed in the database.

The dashboard's Resources page and its CSV export read the same set from here, so an export
holds exactly the rows the page lists, in the same order. Everything is decided in SQL, so a
page costs about the same at a thousand resources as at a million: filters on indexed columns,
the exact count in one query, each resource's monthly cost read from the cost stored with it
(``Resource.monthly_cost``, see :mod:`compliance.stored.costs`; summed from the latest bill
in a correlated subquery only while the stored costs do not hold), and its violations counted
with exemptions applied the way :mod:`compliance.reads.compliance_counts` counts them.

Accounts are narrowed by :func:`present_resources`, so no caller can skip the grants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.expressions import Case, Combinable, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from compliance.core import policy
from compliance.models import BillingImport, ComplianceSnapshot, CostLine, Resource, Violation
from compliance.models.costs import MONEY_DIGITS, MONEY_PLACES
from compliance.models.exemptions import exemptions_apply
from compliance.permissions.accounts import Viewer
from compliance.reads import compliance_counts as figures
from compliance.reads.money import cost_scope, estimate_period
from compliance.reads.resources import (
    AccountNotVisible,
    ResourceFilter,
    present_resources,
    required_tags,
    scoped_accounts,
)
from compliance.reads.scans import latest_scan
from compliance.stored import costs as stored_costs

PAGE_SIZE = 50
#: Rows per database round trip in the export: memory stays flat however large the set.
EXPORT_CHUNK = 1000

COMPLIANCE_STATES = ("compliant", "noncompliant", "out_of_scope")
VIOLATION_TYPES: tuple[str, ...] = tuple(Violation.Type.values)

#: Sort keys of the query string -> ORDER BY; the ARN (unique) last, so pages never overlap.
SORTS: dict[str, tuple[str, ...]] = {
    "-cost": ("-listed_cost", "arn"),
    "cost": ("listed_cost", "arn"),
    "arn": ("arn",),
    "-arn": ("-arn",),
    "name": ("name", "arn"),
    "type": ("resource_type", "arn"),
    "region": ("region", "arn"),
    "last_seen": ("-last_seen_at", "arn"),
}
COST_SORTS = ("-cost", "cost")

_MONEY: DecimalField[Any, Any] = DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)


class ListingError(ValueError):
    """A filter that cannot be applied as asked; the message names the parameter at fault.

    An account the viewer may not see gets the same message as one that does not exist.
    """


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    """The filters and order of one listing, as the query string gave them."""

    account_ids: tuple[str, ...] = ()
    region: str = ""
    resource_type: str = ""
    tag_key: str = ""
    tag_value: str = ""
    compliance: str = ""
    violation_type: str = ""
    search: str = ""
    #: One of SORTS, or "" for the default (highest cost first when a bill is loaded).
    sort: str = ""

    def filters(self) -> dict[str, Any]:
        """The filters set, for the audit log (empty ones left out)."""
        named = {
            "account": list(self.account_ids),
            "region": self.region,
            "type": self.resource_type,
            "tag_key": self.tag_key,
            "tag_value": self.tag_value,
            "compliance": self.compliance,
            "violation_type": self.violation_type,
            "q": self.search,
            "sort": self.sort,
        }
        return {name: value for name, value in named.items() if value}


def parse_query(params: Mapping[str, Any]) -> tuple[ResourceQuery, list[str]]:
    """The query of a request's GET parameters, and notices about parameters set aside.

    An unknown sort only changes the order, so it is set aside with a notice; a filter value
    that cannot be honoured is kept, and :func:`resources` refuses it (listing more than was
    asked for would be wrong, in an export above all).
    """
    notices: list[str] = []

    def text(name: str) -> str:
        return str(params.get(name) or "").strip()

    getlist = getattr(params, "getlist", None)
    accounts = getlist("account") if getlist else [params.get("account") or ""]
    sort = text("sort")
    if sort and sort not in SORTS:
        notices.append(f"sort: unknown order {sort!r}; choose one of {', '.join(SORTS)}.")
        sort = ""
    query = ResourceQuery(
        account_ids=tuple(sorted({a.strip() for a in accounts if a and a.strip()})),
        region=text("region"),
        resource_type=text("type"),
        tag_key=text("tag_key"),
        tag_value=str(params.get("tag_value") or ""),
        compliance=text("compliance"),
        violation_type=text("violation_type"),
        search=text("q"),
        sort=sort,
    )
    return query, notices


# --- The monthly cost of each resource --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatestBill:
    """The bill per-resource costs come from: the latest billing period loaded, one format."""

    period_start: datetime
    period_end: datetime
    source_format: str
    currency: str
    #: Accounts whose resources' stored ``Resource.monthly_cost`` is their cost in this bill,
    #: and accounts it charges nothing; ``None`` when the stored costs cannot tell (see
    #: :func:`compliance.stored.costs.listing_accounts`), so each cost is summed per row.
    stored_accounts: frozenset[str] | None = None
    free_accounts: frozenset[str] = frozenset()
    #: The viewer's accounts, whose lines a cost summed per row may come from.
    accounts: frozenset[str] = frozenset()


def latest_bill(viewer: Viewer) -> LatestBill | None:
    """The latest bill over the viewer's accounts; ``None`` when none is loaded, or when the
    latest period is one only Cost Explorer covers (its per-resource figures are estimates
    spread over the whole inventory, which a row-by-row SQL sum cannot give).

    The same bill ``cost_attribution`` uses (the latest period, the most recently
    imported format), found from the imports' own account lists: a handful of rows, where the
    maximum over the cost lines of the viewer's accounts reads most of them.
    """
    scope = cost_scope(viewer)
    imports = BillingImport.objects.filter(status=BillingImport.Status.ACTIVE).order_by(
        "-billing_period_start", "-imported_at", "-id"
    )
    newest = next(
        (bill for bill in imports if scope.everything or scope.accounts & set(bill.account_ids)),
        None,
    )
    if newest is None or estimate_period(viewer, (), None, newest) is not None:
        return None
    accounts = stored_costs.listing_accounts(
        scope,
        newest.billing_period_start,
        newest.source_format,
        timezone.now(),
    )
    return LatestBill(
        period_start=newest.billing_period_start,
        period_end=newest.billing_period_end,
        source_format=newest.source_format,
        currency=newest.currency,
        stored_accounts=frozenset(accounts[0]) if accounts is not None else None,
        free_accounts=frozenset(accounts[1]) if accounts is not None else frozenset(),
        accounts=scope.accounts,
    )


def bill_lines(bill: LatestBill, arn: Combinable, account_id: Combinable) -> QuerySet[CostLine]:
    """The lines of ``bill`` of one resource's account that name it: by its ARN, or by one of
    the bare ids a bill uses instead (the keys of :func:`compliance.core.costs.id_keys`, in SQL).

    These are the lines a resource's page lists. A bare id that two resources of one account
    share (a queue and a table both called ``orders``) is listed for both, though the
    attribution settles it by region or leaves it unmatched: finding the other resource from
    here would need an index on ARN suffixes. :func:`_monthly_cost` corrects for such lines.
    """
    matches = Q(resource_id=arn)
    for key in stored_costs.id_key_expressions(arn):
        matches |= Q(resource_id=NullIf(key, Value("")))
    return CostLine.objects.filter(
        matches,
        billing_period_start=bill.period_start,
        source_format=bill.source_format,
        account_id=account_id,
    )


def _monthly_cost(bill: LatestBill) -> Combinable:
    """Each resource's cost in ``bill``: the stored one where it holds, else summed per row.

    Summed per row, it is :func:`compliance.core.costs.resource_costs`'s: the lines of
    :func:`bill_lines`, where a line :func:`compliance.stored.costs.contested_lines` finds (a
    bare id several resources share) counts only for the resource it goes to. That resource
    names it too, and ``bill_lines`` keeps the line's account, so a line going to another
    account's resource counts for none, as for the core.
    """
    if bill.stored_accounts is not None:
        if not bill.free_accounts:
            return F("monthly_cost")
        return Case(
            When(account__account_id__in=bill.free_accounts, then=Value(Decimal(0))),
            default=F("monthly_cost"),
            output_field=_MONEY,
        )
    lines = bill_lines(bill, OuterRef("arn"), OuterRef("account__account_id"))
    contested = stored_costs.contested_lines(
        bill.period_start, bill.source_format, sorted(bill.accounts)
    )
    if contested:
        settled = [
            When(pk=line.line_id, then=Value(line.resource_id))
            for line in contested
            if line.resource_id is not None
        ]
        going_to = Case(*settled, default=Value(None), output_field=IntegerField())
        lines = lines.alias(going_to=going_to).filter(
            ~Q(pk__in=[line.line_id for line in contested]) | Q(going_to=OuterRef("pk"))
        )
    summed = lines.order_by().values("account_id").annotate(total=Sum("effective_cost"))
    # In the inventory but not in the bill: it cost nothing this period.
    return Coalesce(
        Subquery(summed.values("total"), output_field=_MONEY),
        Value(Decimal(0)),
        output_field=_MONEY,
    )


# --- The filtered set -------------------------------------------------------------------------


def _with_tag(found: QuerySet[Resource], key: str, value: str) -> QuerySet[Resource]:
    """Resources carrying tag ``key`` (with ``value`` when one is given)."""
    if not value:
        return found.filter(tags__has_key=key)
    if connection.vendor == "postgresql":
        # Containment (@>) is what a GIN index on tags answers.
        return found.filter(tags__contains={key: value})
    # The key is used as given, never split on "__" as a filter keyword would be.
    text = Cast(KeyTextTransform(key, "tags"), output_field=TextField())
    return found.alias(tag_found=text).filter(tag_found=value)


def _compliance_filter(state: str, now: datetime, exempting: bool) -> Q:
    """The resources in ``state``, as :mod:`compliance.reads.compliance_counts` counts them."""
    if state == "out_of_scope":
        return Q(is_compliant__isnull=True)
    if state == "compliant":
        return figures.compliant_condition(now, exempting)
    return figures.noncompliant_condition(now, exempting)


def resources(viewer: Viewer, query: ResourceQuery, *, now: datetime) -> QuerySet[Resource]:
    """The present resources the query selects, within the viewer's accounts, unordered."""
    where = ResourceFilter(
        account_ids=query.account_ids,
        regions=[query.region] if query.region else [],
        resource_types=[query.resource_type] if query.resource_type else [],
    )
    try:
        found = present_resources(viewer, where)
    except AccountNotVisible as exc:
        raise ListingError(str(exc)) from None
    if query.tag_value and not query.tag_key:
        raise ListingError("tag_value: give the tag key too (tag_key)")
    if query.compliance and query.compliance not in COMPLIANCE_STATES:
        raise ListingError(
            f"compliance: unknown state {query.compliance!r}; "
            f"choose one of {', '.join(COMPLIANCE_STATES)}"
        )
    if query.violation_type and query.violation_type not in VIOLATION_TYPES:
        raise ListingError(
            f"violation_type: unknown type {query.violation_type!r}; "
            f"choose one of {', '.join(VIOLATION_TYPES)}"
        )
    if query.tag_key:
        found = _with_tag(found, query.tag_key, query.tag_value)
    exempting = exemptions_apply(now)
    if query.compliance:
        found = found.filter(_compliance_filter(query.compliance, now, exempting))
    if query.violation_type:
        typed = Violation.objects.filter(
            resource_id=OuterRef("pk"), violation_type=query.violation_type
        ).active(now)
        found = found.filter(Exists(typed))
    if query.search:
        found = found.filter(Q(arn__icontains=query.search) | Q(name__icontains=query.search))
    return found


def _counted_violations(now: datetime) -> Any:
    """Violations per resource that count: the scan's own count when no exemption is active."""
    if not exemptions_apply(now):
        return F("violation_count")
    active = (
        Violation.objects.filter(resource_id=OuterRef("pk"))
        .active(now)
        .order_by()
        .values("resource_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(active), 0)


def effective_sort(query: ResourceQuery, bill: LatestBill | None) -> str:
    if query.sort in COST_SORTS and bill is None:
        return "arn"
    if query.sort:
        return query.sort
    return "-cost" if bill is not None else "arn"


def listed(
    found: QuerySet[Resource], sort: str, bill: LatestBill | None, *, now: datetime
) -> QuerySet[Any]:
    """``found`` in the listing's order, as dicts of the listing's fields."""
    cost = _monthly_cost(bill) if bill is not None else Value(None, output_field=_MONEY)
    return (
        found.annotate(counted_violations=_counted_violations(now), listed_cost=cost)
        .order_by(*SORTS[sort])
        .values(
            "pk",
            "arn",
            "name",
            "resource_type",
            "region",
            "account__account_id",
            "account__name",
            "is_compliant",
            "counted_violations",
            "listed_cost",
            "tags",
            "last_seen_at",
        )
    )


@dataclass(frozen=True, slots=True)
class ResourceRow:
    pk: int
    arn: str
    name: str
    resource_type: str
    region: str
    account_id: str
    account_name: str
    #: compliant | noncompliant | out_of_scope
    status: str
    violations: int
    #: Exact, in the bill's currency; ``None`` when no bill is loaded.
    monthly_cost: Decimal | None
    tags: dict[str, str]
    last_seen_at: datetime

    @property
    def compliant(self) -> bool | None:
        return None if self.status == "out_of_scope" else self.status == "compliant"


def _row(values: dict[str, Any]) -> ResourceRow:
    violations = values["counted_violations"] or 0
    verdict = policy.is_compliant(values["is_compliant"] is not None, violations)
    status = {None: "out_of_scope", True: "compliant", False: "noncompliant"}[verdict]
    return ResourceRow(
        pk=values["pk"],
        arn=values["arn"],
        name=values["name"],
        resource_type=values["resource_type"],
        region=values["region"],
        account_id=values["account__account_id"],
        account_name=values["account__name"],
        status=status,
        violations=violations,
        monthly_cost=values["listed_cost"],
        tags=values["tags"] or {},
        last_seen_at=values["last_seen_at"],
    )


@dataclass(frozen=True, slots=True)
class ResourcePage:
    rows: list[ResourceRow]
    #: Exact, over every page.
    total: int
    number: int
    page_count: int
    sort: str
    bill: LatestBill | None
    notices: list[str] = field(default_factory=list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.page_count


def parse_page(raw: str | None) -> tuple[int, list[str]]:
    """A page number from the query string: 1 with a notice when it is not one."""
    if raw is None or raw == "":
        return 1, []
    if raw.isdigit() and 0 < int(raw) < 10**9:
        return int(raw), []
    return 1, [f"page: {raw[:40]!r} is not a page number; showing page 1."]


def resource_page(
    viewer: Viewer, query: ResourceQuery, page: int = 1, *, now: datetime | None = None
) -> ResourcePage:
    """One page of the listing; a page past the end shows the last one, with a notice."""
    now = now or timezone.now()
    found = resources(viewer, query, now=now)
    bill = latest_bill(viewer)
    sort = effective_sort(query, bill)
    notices = []
    if query.sort in COST_SORTS and bill is None:
        notices.append("sort: no bill is loaded, so there is no cost to sort by; sorted by ARN.")
    total = found.count()
    page_count = max(1, -(-total // PAGE_SIZE))
    if page > page_count:
        notices.append(f"page: there is no page {page}; the last is {page_count}.")
        page = page_count
    start = (page - 1) * PAGE_SIZE
    rows = [_row(v) for v in listed(found, sort, bill, now=now)[start : start + PAGE_SIZE]]
    return ResourcePage(rows, total, page, page_count, sort, bill, notices)


# --- Export -----------------------------------------------------------------------------------


def export_rows(
    viewer: Viewer, query: ResourceQuery, *, now: datetime | None = None
) -> Iterator[tuple[ResourceRow, list[str]]]:
    """Every row of the listing, in its order, with the types of the violations that count.

    Raises :class:`ListingError` at the call, before the first row, for a bad filter.
    """
    now = now or timezone.now()
    found = resources(viewer, query, now=now)
    bill = latest_bill(viewer)
    rows = listed(found, effective_sort(query, bill), bill, now=now)
    return _in_chunks(rows, now)


def _in_chunks(rows: QuerySet[Any], now: datetime) -> Iterator[tuple[ResourceRow, list[str]]]:
    chunk: list[ResourceRow] = []
    for values in rows.iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(_row(values))
        if len(chunk) == EXPORT_CHUNK:
            yield from _with_types(chunk, now)
            chunk = []
    yield from _with_types(chunk, now)


def _with_types(chunk: list[ResourceRow], now: datetime) -> Iterator[tuple[ResourceRow, list[str]]]:
    types: dict[int, set[str]] = defaultdict(set)
    if any(row.violations for row in chunk):
        counted = Violation.objects.filter(resource_id__in=[r.pk for r in chunk if r.violations])
        for resource_id, violation_type in counted.active(now).values_list(
            "resource_id", "violation_type"
        ):
            types[resource_id].add(violation_type)
    for row in chunk:
        yield row, sorted(types.get(row.pk, ()))


# --- The filter form --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterChoices:
    #: (account id, name), by id.
    accounts: list[tuple[str, str]]
    regions: list[str]
    resource_types: list[str]
    #: Required tags of the active policy: the keys worth filtering on first.
    tag_keys: list[str]


def filter_choices(viewer: Viewer) -> FilterChoices:
    """Only values present in the viewer's accounts.

    Regions and types come from the latest scan's snapshot rows of those accounts (a handful
    of rows, where a DISTINCT over the inventory would read every resource); an estate never
    snapshotted (no finished scan yet) falls back to the inventory itself.
    """
    accounts = list(
        scoped_accounts(viewer).order_by("account_id").values_list("account_id", "name")
    )
    account_ids = [account_id for account_id, _name in accounts]
    scan = latest_scan()
    snapshot = ComplianceSnapshot.objects.filter(scan=scan, account_id__in=account_ids)
    found: dict[str, list[str]] = {}
    for dimension, column in (
        (ComplianceSnapshot.Dimension.REGION, "region"),
        (ComplianceSnapshot.Dimension.RESOURCE_TYPE, "resource_type"),
    ):
        keys = (
            snapshot.filter(dimension=dimension).values_list("key", flat=True)
            if scan is not None
            else []
        )
        values = set(keys) or set(
            present_resources(viewer).order_by().values_list(column, flat=True).distinct()
        )
        found[column] = sorted(values)
    return FilterChoices(
        accounts=accounts,
        regions=found["region"],
        resource_types=found["resource_type"],
        tag_keys=required_tags(),
    )
