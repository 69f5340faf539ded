"""The overview: score and trend, the money the tags leave unattributed, where it is worst, and
how fresh all of it is. Every figure comes from a selector called with the signed-in user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from compliance import reads
from compliance.permissions import Action, may
from compliance.reads import rankings as dashboard_figures
from compliance.reads import scans as scan_status
from compliance.reads.summary import Breakdown
from compliance.views.access import dashboard
from compliance.views.key_spend import NONCOMPLIANT_LABEL, UNTAGGED_LABEL, key_spend_rows
from compliance.web.charts import format_count, format_money, format_percent

#: How far back the score trend looks, one point per day with a finished scan.
TREND_DAYS = 30


def _ranking(
    title: str, header: str, rows: list[Breakdown], param: str, names: dict[str, str]
) -> dict[str, Any]:
    """A "worst" ranking as bars (non-compliant resources, each linking to those resources)
    and as table rows with every count in words."""
    base = reverse("compliance:resources")
    ranked = []
    for row in dashboard_figures.worst(rows):
        label = f"{row.key} ({names[row.key]})" if names.get(row.key) else row.key
        ranked.append(
            {
                "label": label,
                "url": f"{base}?{urlencode({param: row.key})}",
                "score": format_percent(row.compliance_score or 0),
                "compliant": format_count(row.compliant_resources),
                "in_scope": format_count(row.in_scope_resources),
                "non_compliant": row.in_scope_resources - row.compliant_resources,
                "violations": format_count(row.violations),
            }
        )
    return {
        "title": title,
        "header": header,
        "chart_title": f"{title} with the lowest compliance score: non-compliant resources",
        "rows": ranked,
        "bars": [(r["label"], r["non_compliant"], r["url"]) for r in ranked],
    }


def _money(attribution: reads.CostAttribution) -> dict[str, Any] | None:
    """The attribution figures as text, or ``None`` when no costs are loaded."""
    if attribution.cost_source is None:
        return None
    untagged = sorted(attribution.untagged_spend.items(), key=lambda item: (-item[1], item[0]))
    return {
        "untagged_label": UNTAGGED_LABEL,
        "noncompliant_label": NONCOMPLIANT_LABEL,
        "key_rows": key_spend_rows(attribution),
        "source": attribution.cost_source,
        "estimate_method": attribution.estimate_method,
        "period_start": attribution.period_start,
        "period_end": attribution.period_end,
        "currency": attribution.currency,
        "gap": format_money(attribution.attribution_gap),
        "split": [
            ("Total spend", format_money(attribution.total_spend)),
            (
                "Attributable (resources with every required tag right)",
                format_money(attribution.attributable_spend),
            ),
            (
                "Attribution gap (resources with a violation)",
                format_money(attribution.attribution_gap),
            ),
            (
                "Unattributable (no resource: tax, support, fees)",
                format_money(attribution.unattributable_spend),
            ),
            (
                "On resources not in the inventory",
                format_money(attribution.unmatched_resource_spend),
            ),
        ],
        "judged": _judged(attribution),
        "bill_note": attribution.judged_by_bill.note
        if attribution.judged_by_bill.bill_has_tags
        else None,
        "untagged_bars": [(key, amount) for key, amount in untagged],
        "noncompliant_bars": [(row.key, row.noncompliant) for row in key_spend_rows(attribution)],
    }


def _judged(attribution: reads.CostAttribution) -> list[tuple[str, str, str]]:
    """Spend judged by scan, by bill and not at all: amount and share of the total."""
    split, total = attribution.judged, attribution.total_spend
    rows = [
        ("By scan (resources in the inventory)", split.by_scan),
        ("By bill (not in the inventory, judged from their bill tags)", split.by_bill),
        ("Not at all (no resource, or neither scanned nor judged from the bill)", split.not_judged),
    ]
    return [
        (label, format_money(amount), format_percent(amount / total) if total else "n/a")
        for label, amount in rows
    ]


@dashboard
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.now()
    summary = reads.compliance_summary(user, now=now)
    trend = reads.compliance_trend(user, granularity="day", since=now - timedelta(days=TREND_DAYS))
    attribution = reads.cost_attribution(user)
    money = _money(attribution)
    names = dict(reads.scoped_accounts(user).values_list("account_id", "name"))
    costliest = dashboard_figures.costliest_violations(user, now=now) if money is not None else []
    context = {
        "now": now,
        "summary": summary,
        "score_text": None
        if summary.compliance_score is None
        else format_percent(summary.compliance_score),
        "trend_points": [(p.period_start.date(), p.compliance_score) for p in trend],
        "trend_title": f"Compliance score by day, last {TREND_DAYS} days",
        "money": money,
        "costliest": [
            {
                "violation": row.violation,
                "resource": row.violation.resource,
                "cost": format_money(row.cost_impact_monthly),
            }
            for row in costliest
        ],
        "worst": [
            _ranking("Accounts", "Account", summary.by_account, "account", names),
            _ranking("Regions", "Region", summary.by_region, "region", {}),
            _ranking("Resource types", "Resource type", summary.by_type, "type", {}),
        ],
        "freshness": scan_status.freshness(user, now=now),
        "can_scan": may(user, Action.START_SCAN),
    }
    return render(request, "compliance/overview.html", context)
