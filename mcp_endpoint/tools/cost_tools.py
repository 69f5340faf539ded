"""Cost tools: the attribution figures the dashboard's cost cards show."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from compliance import reads
from compliance.core import costs
from mcp_endpoint.tools.base import FilterInput, ToolCall, ToolFailure, ToolSpec, money, scan_of

Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class AttributionInput(FilterInput):
    period: Month | None = Field(
        None, description="Billing month as YYYY-MM; default: the latest month loaded."
    )


def _split(split: costs.CostSplit) -> dict[str, str | None]:
    return {
        "total_spend": money(split.total),
        "attributable_spend": money(split.attributable),
        "attribution_gap": money(split.attribution_gap),
        "unattributable_spend": money(split.unattributable),
        "unmatched_resource_spend": money(split.unmatched_resource),
    }


def get_cost_attribution_gap(call: ToolCall, params: AttributionInput) -> dict[str, Any]:
    period = None
    if params.period is not None:
        year, month = (int(part) for part in params.period.split("-"))
        period = date(year, month, 1)
    try:
        figures = reads.cost_attribution(call.viewer, params.resource_filter(), period)
    except reads.AccountNotVisible as exc:
        raise ToolFailure(str(exc)) from None
    loaded = figures.cost_source is not None

    def amount(value: Decimal | None) -> str | None:
        # No bill loaded: null rather than 0.00, as the report says "no costs".
        return money(value) if loaded else None

    return {
        "cost_source": figures.cost_source,
        "estimate_method": figures.estimate_method,
        "currency": figures.currency,
        "period_start": figures.period_start.isoformat() if figures.period_start else None,
        "period_end": figures.period_end.isoformat() if figures.period_end else None,
        "total_spend": amount(figures.total_spend),
        "attributable_spend": amount(figures.attributable_spend),
        "attribution_gap": amount(figures.attribution_gap),
        "unattributable_spend": amount(figures.unattributable_spend),
        "unmatched_resource_spend": amount(figures.unmatched_resource_spend),
        "untagged_spend": {key: money(value) for key, value in figures.untagged_spend.items()},
        "by_account": {key: _split(split) for key, split in figures.by_account.items()},
        "by_service": {key: _split(split) for key, split in figures.by_service.items()},
        "by_resource_type": {key: _split(split) for key, split in figures.by_resource_type.items()},
        "scan": scan_of(call.viewer),
    }


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "get_cost_attribution_gap",
        "How much of one month's spend can be attributed with the tags: total_spend = "
        "attributable_spend (resources with every required tag right) + attribution_gap "
        "(resources violating the policy: the money tagging would recover) + "
        "unattributable_spend (charges with no resource, e.g. support, tax) + "
        "unmatched_resource_spend (billed resources not in the inventory). untagged_spend maps "
        "each required tag key to the spend of resources where it is missing or wrong. "
        "cost_source says where the money comes from: focus or cur (a bill), estimate (Cost "
        "Explorer, estimate_method says how), null when no costs are loaded (amounts are then "
        "null). Amounts are decimal strings, exact to the cent.",
        AttributionInput,
        get_cost_attribution_gap,
    ),
]
