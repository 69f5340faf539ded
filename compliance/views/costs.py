"""Costs: where the money of a billing period goes, and how much of it the tags let a FinOps team
attribute."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from compliance import reads
from compliance.core.costs import CostSplit, to_cents
from compliance.reads import reports
from compliance.reads.billing_periods import loaded_periods
from compliance.reads.money import CostAttribution
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.views.access import dashboard
from compliance.views.key_spend import NONCOMPLIANT_LABEL, UNTAGGED_LABEL, key_spend_rows
from compliance.web.charts import format_money

_PERIOD = re.compile(r"(\d{4})-(\d{2})")
#: Rows per breakdown table; the rest is summed into one line.
BREAKDOWN_ROWS = 25

#: What each cost source means for the figures on the page.
SOURCE_MEANING = {
    "focus": "Exact: the amortised cost of every charge, matched to resources by ID.",
    "cur": "Exact: the amortised cost of every charge, matched to resources by ID.",
    "estimate": "Estimated per resource (totals per service, account and region are exact).",
}


class BadParameter(ValueError):
    pass


def parse_period(raw: str | None) -> date | None:
    if raw is None or not raw.strip():
        return None
    match = _PERIOD.fullmatch(raw.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise BadParameter(f"period: {raw[:20]!r} is not a month written YYYY-MM (e.g. 2024-05)")
    return date(int(match.group(1)), int(match.group(2)), 1)


@dataclass(frozen=True, slots=True)
class SplitRow:
    key: str
    label: str
    total: str
    attributable: str
    attribution_gap: str
    unattributable: str
    unmatched_resource: str


def _split_row(key: str, split: CostSplit, label: str = "") -> SplitRow:
    return SplitRow(
        key=key,
        label=label or key or "(none)",
        total=format_money(split.total),
        attributable=format_money(split.attributable),
        attribution_gap=format_money(split.attribution_gap),
        unattributable=format_money(split.unattributable),
        unmatched_resource=format_money(split.unmatched_resource),
    )


def breakdown(
    splits: dict[str, CostSplit], labels: dict[str, str] | None = None
) -> tuple[list[SplitRow], SplitRow | None]:
    """The largest slices first; past ``BREAKDOWN_ROWS`` the rest summed into one row."""
    labels = labels or {}
    ordered = sorted(splits.items(), key=lambda item: (-item[1].total, item[0]))
    shown = [_split_row(key, split, labels.get(key, "")) for key, split in ordered[:BREAKDOWN_ROWS]]
    rest = ordered[BREAKDOWN_ROWS:]
    if not rest:
        return shown, None
    summed = CostSplit()
    for _key, split in rest:
        for bucket in ("attributable", "attribution_gap", "unattributable", "unmatched_resource"):
            summed.add(bucket, getattr(split, bucket))
    return shown, _split_row("", summed, f"{len(rest)} more")


def _parts(attribution: CostAttribution) -> dict[str, Any]:
    """The four parts and the total, to the cent, and whether the rounded parts still add up
    (rounding each part may leave a cent between their sum and the rounded total)."""
    parts = [
        attribution.attributable_spend,
        attribution.attribution_gap,
        attribution.unattributable_spend,
        attribution.unmatched_resource_spend,
    ]
    rounded_sum = sum((to_cents(part) for part in parts), Decimal(0))
    return {
        "total": format_money(attribution.total_spend),
        "attributable": format_money(attribution.attributable_spend),
        "attribution_gap": format_money(attribution.attribution_gap),
        "unattributable": format_money(attribution.unattributable_spend),
        "unmatched_resource": format_money(attribution.unmatched_resource_spend),
        "rounding_cents": format_money(to_cents(attribution.total_spend) - rounded_sum),
        "rounded_apart": to_cents(attribution.total_spend) != rounded_sum,
    }


def _untagged(attribution: CostAttribution) -> list[tuple[str, Decimal, str]]:
    url = reverse("compliance:violations")
    return [
        (key, amount, f"{url}?{urlencode({'tag': key})}")
        for key, amount in sorted(attribution.untagged_spend.items(), key=lambda i: (-i[1], i[0]))
    ]


def _trend(viewer: Any, where: ResourceFilter) -> list[dict[str, Any]]:
    points = reads.attribution_trend(viewer, where)
    return [
        {
            "period": point.period_start.date(),
            "scan_id": point.scan_id,
            "billing_period": point.billing_period_start,
            "cost_source": point.cost_source,
            "amounts": [
                None if amount is None else format_money(amount)
                for amount in (
                    point.total_spend,
                    point.attributable_spend,
                    point.attribution_gap,
                    point.unattributable_spend,
                    point.unmatched_resource_spend,
                )
            ],
            "gap": point.attribution_gap,
            "total": point.total_spend,
        }
        for point in points
    ]


@dashboard
def costs(request: HttpRequest) -> HttpResponse:
    accounts = reads.scoped_accounts(request.user)
    context: dict[str, Any] = {
        "accounts": list(accounts.values_list("account_id", "name")),
    }
    try:
        period = parse_period(request.GET.get("period"))
        account_ids = sorted({a.strip() for a in request.GET.getlist("account") if a.strip()})
        where = ResourceFilter(account_ids=account_ids)
        periods = loaded_periods(request.user, account_ids)
        if period is not None and period not in periods:
            loaded = ", ".join(f"{p:%Y-%m}" for p in periods) or "none"
            raise BadParameter(
                f"period: no costs loaded for {period:%Y-%m} in your accounts (loaded: {loaded})"
            )
    except (BadParameter, AccountNotVisible) as exc:
        context["error"] = str(exc)
        return render(request, "compliance/costs.html", context, status=400)
    context.update(account_ids=account_ids, periods=periods, period=period)
    attribution = reads.cost_attribution(request.user, where, period)
    if attribution.cost_source is None:
        return render(request, "compliance/costs.html", context)
    names = dict(context["accounts"])
    untagged = _untagged(attribution)
    key_rows = key_spend_rows(attribution)
    trend = _trend(request.user, where)
    context.update(
        attribution=attribution,
        parts=_parts(attribution),
        source_label=reports.COST_SOURCES.get(attribution.cost_source, attribution.cost_source),
        source_meaning=SOURCE_MEANING.get(attribution.cost_source, ""),
        untagged=untagged,
        noncompliant=[(row.key, row.noncompliant, row.url) for row in key_rows],
        key_rows=key_rows,
        untagged_label=UNTAGGED_LABEL,
        noncompliant_label=NONCOMPLIANT_LABEL,
        breakdowns=[
            (
                "account",
                "By account",
                "Account",
                *breakdown(
                    attribution.by_account,
                    {
                        key: f"{names[key]} ({key})"
                        for key in attribution.by_account
                        if key in names
                    },
                ),
            ),
            ("service", "By service", "Service", *breakdown(attribution.by_service)),
            (
                "resource-type",
                "By resource type",
                "Resource type",
                *breakdown(attribution.by_resource_type),
            ),
            ("region", "By region", "Region", *breakdown(attribution.by_region)),
            (
                "charge-category",
                "By charge category",
                "Charge category",
                *breakdown(attribution.by_charge_category),
            ),
        ],
        trend=trend,
        gap_points=[(row["period"], row["gap"]) for row in trend],
        total_points=[(row["period"], row["total"]) for row in trend],
    )
    return render(request, "compliance/costs.html", context)
