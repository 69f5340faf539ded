"""The resource inventory: the filtered list, its CSV export, and one resource in full.

The list and the export read the same set from :mod:`compliance.reads.listings` with the same query
string, so an export holds exactly what the page lists, every page of it, in its order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import Sum, Value
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone

from compliance import reads
from compliance.audit.events import EventType
from compliance.aws.console import console_url, type_label
from compliance.core.costs import to_cents
from compliance.models import Resource
from compliance.permissions import Action, may
from compliance.reads import listings, reports, suggestions
from compliance.reads.listings import ListingError, ResourceRow
from compliance.views.access import dashboard, needs
from compliance.web import network
from compliance.writes.exports import do_export

#: Audit event type of the export (other apps' event types are plain strings too).

EXPORT_COLUMNS = (
    "arn",
    "name",
    "resource_type",
    "region",
    "account_id",
    "compliant",
    "violations",
    "violation_types",
    "monthly_cost",
    "tags",
)

STATUS_LABELS = {
    "compliant": "Compliant",
    "noncompliant": "Non-compliant",
    "out_of_scope": "Out of scope",
}


def money_text(amount: Decimal | None) -> str:
    """To the cent with thousands separators; an em dash when unknown."""
    return "—" if amount is None else f"{to_cents(amount):,.2f}"


def _table_row(row: ResourceRow) -> dict[str, Any]:
    return {
        "row": row,
        "status_label": STATUS_LABELS[row.status],
        "cost": money_text(row.monthly_cost),
    }


@dashboard
def resource_list(request: HttpRequest) -> HttpResponse:
    query, notices = listings.parse_query(request.GET)
    number, page_notices = listings.parse_page(request.GET.get("page"))
    notices += page_notices
    page = None
    error = ""
    try:
        page = listings.resource_page(request.user, query, number)
    except ListingError as exc:
        error = str(exc)
    else:
        notices += page.notices
    context = {
        "query": query,
        "page": page,
        "rows": [_table_row(row) for row in page.rows] if page else [],
        "total_text": f"{page.total:,}" if page else "0",
        "error": error,
        "notices": notices,
        "choices": listings.filter_choices(request.user),
        "sorts": [
            ("-cost", "Monthly cost, highest first"),
            ("cost", "Monthly cost, lowest first"),
            ("arn", "ARN, A to Z"),
            ("-arn", "ARN, Z to A"),
            ("name", "Name"),
            ("type", "Resource type"),
            ("region", "Region"),
            ("last_seen", "Last seen, newest first"),
        ],
        "compliance_states": list(STATUS_LABELS.items()),
        "violation_types": listings.VIOLATION_TYPES,
        "may_export": may(request.user, Action.EXPORT),
    }
    return render(request, "compliance/resources.html", context)


class _Line:
    """A file-like object whose ``write`` returns the line: csv.writer on a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[tuple[ResourceRow, list[str]]]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\n")
    yield writer.writerow(EXPORT_COLUMNS)
    for row, types in rows:
        compliant = "" if row.compliant is None else str(row.compliant).lower()
        # The cost is ours, not a tag value: a credit's -1.00 must stay a number.
        cost = "" if row.monthly_cost is None else to_cents(row.monthly_cost)
        cells = [
            row.arn,
            row.name,
            row.resource_type,
            row.region,
            row.account_id,
            compliant,
            row.violations,
            " ".join(types),
            cost,
            json.dumps(row.tags, sort_keys=True, ensure_ascii=False),
        ]
        yield writer.writerow([reports.csv_safe(cell) for cell in cells])


# ``needs`` is typed for views returning HttpResponse; a streamed one is an HttpResponseBase.
@needs(Action.EXPORT)
def resource_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Every row the list selects, streamed; audited once, before the first byte."""
    query, _notices = listings.parse_query(request.GET)
    try:
        rows = do_export(
            EventType.RESOURCES_EXPORTED,
            request.user,
            lambda: listings.export_rows(request.user, query),
            interface="web",
            detail={"filters": query.filters()},
            client_address=network.request_client_address(request),
        )
    except ListingError as exc:
        return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="resources-{stamp}.csv"'
    return response


# --- One resource -----------------------------------------------------------------------------


def _resource(request: HttpRequest, pk: int) -> Resource:
    """The resource if it is in one of the viewer's accounts; 404 otherwise, the same as for
    an id that does not exist."""
    found = (
        reads.visible_resources(request.user, include_gone=True)
        .select_related("account")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404("No such resource in your accounts.")
    return found


@dashboard
def resource_detail(request: HttpRequest, pk: int) -> HttpResponse:
    viewer = request.user
    resource = _resource(request, pk)
    now = timezone.now()
    cost = reads.resource_costs(viewer, [resource.arn]).get(resource.arn)
    bill = listings.latest_bill(viewer)
    lines: list[dict[str, Any]] = []
    lines_total: Decimal | None = None
    if bill is not None and resource.gone_since is None:
        found = listings.bill_lines(
            bill, Value(resource.arn), Value(resource.account.account_id)
        ).order_by("service", "charge_category", "resource_id", "id")
        lines = [{"line": line, "cost": money_text(line.effective_cost)} for line in found[:200]]
        lines_total = found.aggregate(total=Sum("effective_cost"))["total"]
    current = (
        reads.current_violations(viewer, now=now)
        .filter(resource=resource)
        .order_by("tag_name", "violation_type")
    )
    exempted = (
        reads.exempted_violations(viewer, now=now)
        .filter(resource=resource)
        .order_by("tag_name", "violation_type")
    )
    covering = {e.pk: e for e in reads.exemptions(viewer, now=now)}
    timeline = reads.resource_violation_history(viewer, resource.arn)
    context = {
        "resource": resource,
        "type_label": type_label(resource.resource_type),
        "console_url": console_url(
            resource.resource_type, resource.arn, resource.region, resource.name
        ),
        "tags": sorted(resource.tags.items(), key=lambda item: item[0].casefold()),
        "cost_text": money_text(cost),
        "bill": bill,
        "lines": lines,
        "lines_total_text": money_text(lines_total) if lines_total is not None else "",
        # Lines sharing a bare id with another resource of the account are not counted.
        "lines_differ": lines_total is not None
        and cost is not None
        and to_cents(lines_total) != to_cents(cost),
        "current": list(current),
        "exempted": [
            {"violation": v, "exemption": covering.get(getattr(v, "exemption_id", None) or 0)}
            for v in exempted
        ],
        "tag_changes": list(reversed(timeline.tag_changes)),
        "open_violations": timeline.violations,
        "suggestions": suggestions.suggest_tags(viewer, resource.arn),
    }
    return render(request, "compliance/resource_detail.html", context)
