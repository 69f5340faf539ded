"""``{% load charts %}``: the dashboard's SVG charts as template tags.

Each tag gives its chart an id unique on the page (``chart-1``, ``chart-2``, ...), counted in
the render context so that included templates share the count; pass ``chart_id`` to fix one.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template
from django.utils.safestring import SafeString

from compliance.web import charts

register = template.Library()

_COUNTER = "compliance.web.charts.count"


def _chart_id(context: template.Context, chart_id: str) -> str:
    if chart_id:
        return chart_id
    count: int = (context.render_context.get(_COUNTER) or 0) + 1
    context.render_context[_COUNTER] = count
    return f"chart-{count}"


@register.simple_tag(takes_context=True)
def score_gauge(
    context: template.Context,
    score: charts.Number | None,
    label: str = "Compliance score",
    chart_id: str = "",
) -> SafeString:
    """``{% score_gauge summary.compliance_score label="Compliance score" %}``"""
    return charts.score_gauge(score, label=label, chart_id=_chart_id(context, chart_id))


@register.simple_tag(takes_context=True)
def trend_line(
    context: template.Context,
    points: Iterable[charts.Point],
    title: str,
    percent: bool = False,
    money: bool = False,
    label_header: str = "Period",
    chart_id: str = "",
) -> SafeString:
    """``{% trend_line points title="Compliance score by day" percent=True %}``"""
    return charts.trend_line(
        points,
        title=title,
        chart_id=_chart_id(context, chart_id),
        percent=percent,
        money=money,
        label_header=label_header,
    )


@register.simple_tag(takes_context=True)
def bar_chart(
    context: template.Context,
    rows: Iterable[charts.Bar],
    title: str,
    money: bool = False,
    label_header: str = "Item",
    chart_id: str = "",
) -> SafeString:
    """``{% bar_chart rows title="Untagged spend by tag key" money=True %}``"""
    return charts.bar_chart(
        rows,
        title=title,
        chart_id=_chart_id(context, chart_id),
        money=money,
        label_header=label_header,
    )
