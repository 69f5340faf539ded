"""Allocation: who owns the spend of a billing period, by the values of one tag key, and how
much of it belongs to nobody (showback).

The page, its drill-down into one value or bucket and its CSV download all read
:mod:`compliance.reads.showback` with the same query string, so the file holds the numbers the
page shows. The page needs what the costs page needs (``VIEW``); the download takes data out
of the product, so it is an export (``EXPORT``), refused and audited as one.

Every figure is shown as tagged and, beside it, as allocated: what the allocation rules give
the values, the shared costs split over them (a column of its own, never added to a value's
spend), and what the rules leave without a value. The rules change no violation, so the
badges ("violates") stay those of the tags.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import render
from django.urls import reverse

from compliance import reads
from compliance.audit.events import EventType
from compliance.core.costs import to_cents
from compliance.core.policy.model import MAX_KEY_LENGTH
from compliance.core.untrusted import reveal
from compliance.permissions import Action, may
from compliance.reads import listings, reports, showback
from compliance.reads.billing_periods import loaded_periods
from compliance.reads.resources import AccountNotVisible
from compliance.reads.showback import Showback, ShowbackError, ShowbackRow
from compliance.views.access import dashboard, needs
from compliance.views.costs import BadParameter, parse_period
from compliance.views.violations import BadFilter, parse_filters
from compliance.web.charts import format_money, format_percent
from compliance.web.network import request_client_address
from compliance.writes.exports import do_export

#: ``?download=`` value of the page.
CSV_DOWNLOAD = "csv"
#: ``?view=`` of a value's drill-down: its resources as the allocation rules give them.
ALLOCATED_VIEW = "allocated"
#: Values drawn as bars; the table lists them all.
CHART_BARS = 25
#: Values given a trend line of their own (the table of the trend holds the same months).
TREND_VALUES = 4
#: Billing periods in the trend.
TREND_MONTHS = 12
#: Resources listed in a drill-down; past that the page says how many more there are.
DRILL_ROWS = 200
#: AWS's limit on a tag value; a longer one is no tag's value.
MAX_VALUE_LENGTH = 256
#: Longest AWS service name accepted as a filter (AWS's own are well under 100 characters).
_MAX_SERVICE_LENGTH = 200
_MAX_SERVICES = 50

#: The buckets no value owns, in the order of the table, with what each one holds.
BUCKETS = (
    ("untagged", "Untagged", "resources without the key"),
    ("invalid", "Invalid value", "the key carries a value the policy refuses"),
    ("unattributable", "Unattributable", "charges of no resource: tax, support, fees, credits"),
    ("unmatched", "Unmatched", "resources on the bill the inventory does not hold"),
)

CSV_COLUMNS = (
    "tag_key",
    "billing_period_start",
    "currency",
    "cost_source",
    "kind",
    "value",
    "valid",
    "resource_count",
    "spend",
    "share_percent",
    "allocated_spend",
    "shared_spend",
    "allocated_resource_count",
)
#: The CSV ``kind`` of what the rules leave in each bucket, in the order of the table.
ALLOCATED_KINDS = (
    "allocated_untagged",
    "allocated_invalid",
    "allocated_unattributable",
    "allocated_unmatched",
)


@dataclass(frozen=True, slots=True)
class Question:
    """What the page is asked: a key, a period, filters, and optionally one value or bucket."""

    tag_key: str
    period: date | None
    accounts: list[str]
    regions: list[str]
    services: list[str]
    resource_types: list[str]
    #: The value drilled into (``None``: none; a value may be the empty string).
    value: str | None = None
    #: The bucket drilled into (``untagged`` or ``invalid``).
    bucket: str | None = None
    #: ``ALLOCATED_VIEW``: the value's resources as allocated (``None``: as tagged).
    view: str | None = None
    periods: list[date] = field(default_factory=list)

    @property
    def filters(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts or None,
            "regions": self.regions or None,
            "services": self.services or None,
            "resource_types": self.resource_types or None,
        }

    @property
    def query(self) -> list[tuple[str, str]]:
        """The question as query-string pairs, without the drill-down."""
        pairs = [("tag_key", self.tag_key)]
        if self.period is not None:
            pairs.append(("period", f"{self.period:%Y-%m}"))
        for name, values in (
            ("account", self.accounts),
            ("region", self.regions),
            ("service", self.services),
            ("type", self.resource_types),
        ):
            pairs += [(name, value) for value in values]
        return pairs

    @property
    def narrowed(self) -> bool:
        return bool(self.accounts or self.regions or self.services or self.resource_types)


def _services(params: QueryDict) -> list[str]:
    services = sorted({value.strip() for value in params.getlist("service") if value.strip()})
    if len(services) > _MAX_SERVICES:
        raise BadFilter(f"service: at most {_MAX_SERVICES} values")
    for service in services:
        if len(service) > _MAX_SERVICE_LENGTH or not service.isprintable():
            raise BadFilter(f"service: {service[:40]!r} is not an AWS service name")
    return services


def _tag_key(params: QueryDict, default: str) -> str:
    tag_key = (params.get("tag_key") or "").strip() or default
    if not tag_key:
        raise BadFilter("tag_key: choose the tag key whose values own the spend (e.g. CostCenter)")
    if len(tag_key) > MAX_KEY_LENGTH:
        raise BadFilter(f"tag_key: a tag key has at most {MAX_KEY_LENGTH} characters")
    return tag_key


def parse_question(request: HttpRequest, required_keys: Sequence[str]) -> Question:
    """The question in the query string; ``BadFilter``, ``BadParameter`` or
    ``AccountNotVisible`` with a message that says what to fix."""
    params = request.GET
    where = parse_filters(params).where
    period = parse_period(params.get("period"))
    periods = loaded_periods(request.user, where.account_ids)
    if period is not None and period not in periods:
        loaded = ", ".join(f"{p:%Y-%m}" for p in periods) or "none"
        raise BadParameter(
            f"period: no costs loaded for {period:%Y-%m} in your accounts (loaded: {loaded})"
        )
    bucket = (params.get("bucket") or "").strip() or None
    if bucket is not None and bucket not in showback.BUCKETS:
        raise BadFilter(f"bucket: {bucket[:40]!r} is not one of {', '.join(showback.BUCKETS)}")
    value = params.get("value")
    if value is not None and len(value) > MAX_VALUE_LENGTH:
        raise BadFilter(f"value: a tag value has at most {MAX_VALUE_LENGTH} characters")
    if value is not None and bucket is not None:
        raise BadFilter("value and bucket: drill into one value or one bucket, not both")
    view = params.get("view")
    if view is not None and view != ALLOCATED_VIEW:
        raise BadFilter(f"view: {view[:40]!r} is not a view; use {ALLOCATED_VIEW}")
    if view is not None and value is None:
        raise BadFilter(f"view: {ALLOCATED_VIEW} is a view of one value; choose the value")
    return Question(
        tag_key=_tag_key(params, required_keys[0] if required_keys else ""),
        period=period,
        accounts=list(where.account_ids),
        regions=list(where.regions),
        services=_services(params),
        resource_types=list(where.resource_types),
        value=value,
        bucket=bucket,
        view=view,
        periods=periods,
    )


# --- The page ----------------------------------------------------------------------------------


def _share(amount: Decimal, total: Decimal) -> str:
    return format_percent(amount / total) if total else "n/a"


def _url(question: Question, **drill: str) -> str:
    return f"{reverse('compliance:allocation')}?{urlencode(question.query + list(drill.items()))}"


def _value_row(question: Question, row: ShowbackRow, total: Decimal) -> dict[str, Any]:
    return {
        "row": row,
        "spend": format_money(row.spend),
        "share": _share(row.spend, total),
        "url": _url(question, value=row.value),
        # A value the policy refuses has no figure as allocated: rules give valid values only.
        "allocated": format_money(row.allocated_spend) if row.valid else None,
        "shared": format_money(row.shared_spend) if row.valid else None,
        "allocated_url": _url(question, value=row.value, view=ALLOCATED_VIEW),
        "rules": [(name, format_money(spend)) for name, spend in row.allocated_by],
    }


def _bucket_rows(question: Question, answer: Showback) -> list[dict[str, Any]]:
    """The four buckets; the two made of resources drill down here, the two made of charges
    go to the costs page, whose breakdowns by service and charge category explain them."""
    costs_url = reverse("compliance:costs")
    if answer.billing_period_start is not None:
        costs_url += "?" + urlencode(
            [("period", f"{answer.billing_period_start:%Y-%m}")]
            + [("account", account) for account in question.accounts]
        )
    amounts = {
        "untagged": (answer.untagged_spend, answer.untagged_count),
        "invalid": (answer.invalid_spend, answer.invalid_count),
        "unattributable": (answer.unattributable_spend, None),
        "unmatched": (answer.unmatched_resource_spend, None),
    }
    left = _left_after_rules(answer)
    rows = []
    for bucket, label, meaning in BUCKETS:
        amount, count = amounts[bucket]
        rows.append(
            {
                "bucket": bucket,
                "label": label,
                "meaning": meaning,
                "spend": format_money(amount),
                "amount": amount,
                "share": _share(amount, answer.total_spend),
                "count": count,
                "url": _url(question, bucket=bucket) if count is not None else costs_url,
                "allocated": format_money(left[bucket]),
            }
        )
    return rows


def _left_after_rules(answer: Showback) -> dict[str, Decimal]:
    """Bucket -> what the allocation and shared-cost rules leave in it (the gap after rules)."""
    allocated = answer.allocated
    if allocated is None:
        return {
            "untagged": answer.untagged_spend,
            "invalid": answer.invalid_spend,
            "unattributable": answer.unattributable_spend,
            "unmatched": answer.unmatched_resource_spend,
        }
    return {
        "untagged": allocated.untagged_spend,
        "invalid": allocated.invalid_spend,
        "unattributable": allocated.unattributable_spend,
        "unmatched": allocated.unmatched_resource_spend,
    }


def _rules_line(answer: Showback) -> str:
    """ "rules v3, 4 rules, 1 shared-cost rule" ("": no rule was ever written)."""
    allocated = answer.allocated
    if allocated is None or allocated.rules_version is None:
        return ""
    rules = f"{allocated.rule_count} rule{'' if allocated.rule_count == 1 else 's'}"
    shared = allocated.shared_rule_count
    return f"rules v{allocated.rules_version}, {rules}, {shared} shared-cost rule" + (
        "" if shared == 1 else "s"
    )


def _allocated_totals(answer: Showback) -> tuple[Decimal, Decimal, Decimal]:
    """(what the values own as allocated, what the rules leave without a value, the shared
    costs): together, the period's total."""
    owned = sum((row.allocated_spend for row in answer.rows), Decimal(0))
    left = sum(_left_after_rules(answer).values(), Decimal(0))
    shared = answer.allocated.shared_spend if answer.allocated else Decimal(0)
    return owned, left, shared


def _after_rules(answer: Showback) -> dict[str, str]:
    """The footer of the as-allocated columns: each column adds up to its own total, and the
    two totals to the period's total."""
    owned, left, shared = _allocated_totals(answer)
    return {
        "owned": format_money(owned),
        "owned_with_shared": format_money(owned + shared),
        "allocated_total": format_money(owned + left),
        "shared": format_money(shared),
    }


def _chart(values: list[dict[str, Any]], buckets: list[dict[str, Any]]) -> list[Any]:
    bars: list[Any] = [
        (reveal(item["row"].value) or "(empty value)", item["row"].spend, item["url"])
        for item in values[:CHART_BARS]
    ]
    if len(values) > CHART_BARS:
        rest = sum((item["row"].spend for item in values[CHART_BARS:]), Decimal(0))
        bars.append((f"{len(values) - CHART_BARS} more values", rest))
    bars += [(f"({item['label'].lower()})", item["amount"], item["url"]) for item in buckets]
    return bars


def _trend(viewer: Any, question: Question, answer: Showback) -> dict[str, Any]:
    """Per month, the values that own the most in the period shown (and what nobody owns)."""
    months = showback.spend_by_tag_trend(
        viewer, question.tag_key, months=TREND_MONTHS, **question.filters
    )
    top = [row.value for row in answer.rows[:TREND_VALUES]]
    columns = [
        *((value, reveal(value) or "(empty value)") for value in top),
        (showback.UNTAGGED_LABEL, "Untagged"),
        (showback.INVALID_LABEL, "Invalid value"),
    ]
    rows = [
        (start, [format_money(spend.get(key, Decimal(0))) for key, _label in columns])
        for start, spend in months
    ]
    lines = [
        (label, [(start, spend.get(key, Decimal(0))) for start, spend in months])
        for key, label in columns[: len(top) + 1]
    ]
    return {"columns": [label for _key, label in columns], "rows": rows, "lines": lines}


def _listed(viewer: Any, found: list[showback.ResourceSpend]) -> dict[str, Any]:
    """The first ``DRILL_ROWS`` resources of a drill-down, each linked to its page when the
    viewer may open it, with how many more there are and the spend of them all."""
    shown = found[:DRILL_ROWS]
    pks = dict(
        reads.visible_resources(viewer)
        .filter(arn__in=[item.arn for item in shown])
        .values_list("arn", "pk")
    )
    return {
        "resources": [
            {"item": item, "pk": pks.get(item.arn), "spend": format_money(item.spend)}
            for item in shown
        ],
        "more": len(found) - len(shown),
        "total": format_money(sum((item.spend for item in found), Decimal(0))),
        "count": len(found),
    }


def _drill(request: HttpRequest, question: Question, names: dict[str, str]) -> dict[str, Any]:
    viewer = request.user
    selector: dict[str, Any] = {"bucket": question.bucket, "period": question.period}
    selector.update(question.filters)
    split = showback.spend_by_tag_breakdown(viewer, question.tag_key, question.value, **selector)
    found = showback.resources_with_tag_value(viewer, question.tag_key, question.value, **selector)
    return {
        "by_account": [
            (f"{names[key]} ({key})" if key in names else key, format_money(amount))
            for key, amount in split.get("by_account", {}).items()
        ],
        "by_service": [
            (key, format_money(amount)) for key, amount in split.get("by_service", {}).items()
        ],
        **_listed(viewer, found),
    }


def _allocated_drill(request: HttpRequest, question: Question, answer: Showback) -> dict[str, Any]:
    """A value as allocated: its own tag's spend and each rule's, and its resources with the
    rule that gave each one the value (charges of no resource a rule gives are in the rules'
    amounts, not in the list)."""
    viewer = request.user
    selector: dict[str, Any] = {"period": question.period, "allocated": True}
    selector.update(question.filters)
    found = showback.resources_with_tag_value(viewer, question.tag_key, question.value, **selector)
    row = next((row for row in answer.rows if row.value == question.value), None)
    return {
        "allocated": format_money(row.allocated_spend if row else Decimal(0)),
        "tagged": format_money(row.spend if row else Decimal(0)),
        "shared": format_money(row.shared_spend if row else Decimal(0)),
        "by_rule": [
            (name, format_money(spend)) for name, spend in (row.allocated_by if row else ())
        ],
        **_listed(viewer, found),
        "tagged_url": _url(question, value=question.value or ""),
    }


def _answer(request: HttpRequest, question: Question) -> Showback:
    return showback.spend_by_tag(
        request.user, question.tag_key, period=question.period, **question.filters
    )


def allocation(request: HttpRequest) -> HttpResponseBase:
    """The page (``VIEW``), or with ``?download=csv`` its table as CSV (``EXPORT``): each
    refused, and audited, as its own action."""
    if request.GET.get("download") == CSV_DOWNLOAD:
        return allocation_csv(request)
    return _allocation_page(request)


@dashboard
def _allocation_page(request: HttpRequest) -> HttpResponse:
    choices = listings.filter_choices(request.user)
    context: dict[str, Any] = {"choices": choices, "can_export": may(request.user, Action.EXPORT)}
    try:
        download = request.GET.get("download")
        if download is not None:
            raise BadFilter(f"download: unknown export {download[:40]!r}; use {CSV_DOWNLOAD}")
        question = parse_question(request, choices.tag_keys)
        context["question"] = question
        answer = _answer(request, question)
        drill = allocated_drill = None
        if question.view == ALLOCATED_VIEW:
            allocated_drill = _allocated_drill(request, question, answer)
        elif question.value is not None or question.bucket is not None:
            drill = _drill(request, question, dict(choices.accounts))
    except (BadFilter, BadParameter, ShowbackError, AccountNotVisible) as exc:
        context["error"] = str(exc)
        return render(request, "compliance/allocation.html", context, status=400)
    context.update(
        answer=answer,
        drill=drill,
        allocated_drill=allocated_drill,
        required=question.tag_key in choices.tag_keys,
        rules_line=_rules_line(answer),
    )
    if answer.billing_period_start is None:
        return render(request, "compliance/allocation.html", context)
    if question.value is not None and any(row.value == question.value for row in answer.rows):
        context["allocated_url"] = _url(question, value=question.value, view=ALLOCATED_VIEW)
    values = [_value_row(question, row, answer.total_spend) for row in answer.rows]
    invalid = [_value_row(question, row, answer.total_spend) for row in answer.invalid_rows or []]
    buckets = _bucket_rows(question, answer)
    context.update(
        values=values,
        invalid_values=invalid,
        buckets=buckets,
        chart=_chart(values, buckets),
        total=format_money(answer.total_spend),
        owned=format_money(sum((row.spend for row in answer.rows), Decimal(0))),
        after_rules=_after_rules(answer),
        trend=_trend(request.user, question, answer),
        source_label=reports.COST_SOURCES.get(answer.cost_source or "", answer.cost_source),
        csv_url=_url(question, download=CSV_DOWNLOAD),
        back_url=_url(question),
    )
    return render(request, "compliance/allocation.html", context)


# --- The CSV download --------------------------------------------------------------------------


def csv_rows(answer: Showback) -> list[list[Any]]:
    """The page's table, a line per value and per bucket and the total, amounts to the cent;
    then what the rules leave in each bucket (``allocated_untagged`` ...). Each money column
    adds up to its total line: ``spend`` over the values and buckets, ``allocated_spend`` over
    the valid values and the ``allocated_*`` lines, ``shared_spend`` over the valid values."""
    head = [
        answer.tag_key,
        answer.billing_period_start.isoformat() if answer.billing_period_start else "",
        answer.currency or "",
        answer.cost_source or "",
    ]
    total = answer.total_spend

    def line(
        kind: str,
        value: str,
        valid: str,
        count: int | None,
        amount: Decimal | None,
        allocated: Sequence[Any] = ("", "", ""),
    ) -> list[Any]:
        spend = (
            ("", "")
            if amount is None
            else (to_cents(amount), _share(amount, total).removesuffix("%"))
        )
        return [*head, kind, value, valid, "" if count is None else count, *spend, *allocated]

    rows = [
        line(
            "value",
            row.value,
            "true",
            row.resource_count,
            row.spend,
            (
                to_cents(row.allocated_spend),
                to_cents(row.shared_spend),
                row.allocated_resource_count,
            ),
        )
        for row in answer.rows
    ]
    rows += [
        line("value", row.value, "false", row.resource_count, row.spend)
        for row in answer.invalid_rows or []
    ]
    rows += [
        line("untagged", "", "", answer.untagged_count, answer.untagged_spend),
        line("invalid", "", "", answer.invalid_count, answer.invalid_spend),
        line("unattributable", "", "", None, answer.unattributable_spend),
        line("unmatched", "", "", None, answer.unmatched_resource_spend),
    ]
    owned, left_total, shared = _allocated_totals(answer)
    rows.append(
        line("total", "", "", None, total, (to_cents(owned + left_total), to_cents(shared), ""))
    )
    left = _left_after_rules(answer)
    rows += [
        line(kind, "", "", None, None, (to_cents(left[bucket]), "", ""))
        for kind, (bucket, _label, _meaning) in zip(ALLOCATED_KINDS, BUCKETS, strict=True)
    ]
    return rows


@needs(Action.EXPORT)
def allocation_csv(request: HttpRequest) -> HttpResponse:
    """The table of the page, same question, same numbers; audited once."""
    required_keys = reads.required_tags()

    def produce() -> Showback:
        # Parsed inside the export, so that asking for an account one may not see is audited
        # as a refused export.
        return _answer(request, parse_question(request, required_keys))

    try:
        answer = do_export(
            EventType.SHOWBACK_EXPORTED,
            request.user,
            produce,
            interface="web",
            target=(request.GET.get("tag_key") or "")[:200],
            detail={"query": request.GET.urlencode()[:1000]},
            client_address=request_client_address(request),
        )
    except (BadFilter, BadParameter, ShowbackError, AccountNotVisible) as exc:
        return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(answer):
        writer.writerow([reports.csv_safe(cell) for cell in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    period = f"{answer.billing_period_start:%Y-%m}" if answer.billing_period_start else "none"
    response["Content-Disposition"] = f'attachment; filename="allocation-{period}.csv"'
    return response
