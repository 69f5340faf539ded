"""Cost tools: the attribution figures the dashboard's cost cards show."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from compliance import reads
from compliance.core import costs
from mcp_endpoint.tools.base import (
    AccountId,
    FilterInput,
    PageInput,
    TagKey,
    ToolCall,
    ToolFailure,
    ToolSpec,
    money,
    next_cursor,
    page_offset,
    scan_of,
)

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
        "noncompliant_spend": {
            key: money(value) for key, value in figures.noncompliant_spend.items()
        },
        "by_account": {key: _split(split) for key, split in figures.by_account.items()},
        "by_service": {key: _split(split) for key, split in figures.by_service.items()},
        "by_resource_type": {key: _split(split) for key, split in figures.by_resource_type.items()},
        "scan": scan_of(call.viewer),
        **reads.bill_judgement_fields(figures, amount),
    }


class SpendByTagInput(PageInput):
    tag_key: TagKey = Field(
        description="The tag key to show spend by, exactly as tagged (letter case counts)."
    )
    billing_period: Month | None = Field(
        None, description="Billing month as YYYY-MM; default: the latest month loaded."
    )
    accounts: list[AccountId] = Field(
        default_factory=list,
        max_length=100,
        description="12-digit AWS account ids to narrow to; empty: every account you may see.",
    )


def get_spend_by_tag(call: ToolCall, params: SpendByTagInput) -> dict[str, Any]:
    period = None
    if params.billing_period is not None:
        year, month = (int(part) for part in params.billing_period.split("-"))
        period = date(year, month, 1)
    offset = page_offset("get_spend_by_tag", params)
    try:
        showback = reads.spend_by_tag(
            call.viewer, params.tag_key, period=period, accounts=params.accounts
        )
    except (reads.AccountNotVisible, reads.ShowbackError) as exc:
        raise ToolFailure(str(exc)) from None
    page = showback.rows[offset : offset + params.limit]
    has_more = offset + params.limit < len(showback.rows)
    return {
        **reads.showback_fields(showback, page),
        "next_cursor": next_cursor("get_spend_by_tag", params, offset, has_more),
    }


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "get_cost_attribution_gap",
        "How much of one month's spend can be attributed with the tags: total_spend = "
        "attributable_spend (resources with every required tag right) + attribution_gap "
        "(resources violating the policy: the money tagging would recover) + "
        "unattributable_spend (charges with no resource, e.g. support, tax) + "
        "unmatched_resource_spend (billed resources not in the inventory). untagged_spend maps "
        "each required tag key to the spend of resources without that key as written (missing, "
        "or only in another letter case or with hidden characters in its name); "
        "noncompliant_spend to the spend of resources violating it in any way (also a blank, "
        "refused or ill-formed value), never less. "
        "Resources on the bill that the inventory does not hold are judged from their tags on "
        "the bill (judged_by_bill; only keys activated as cost allocation tags appear there, see "
        "its note and keys_on_bill; exemptions do not apply), their spend staying in "
        "unmatched_resource_spend; attribution_gap_with_bill adds their gap to the "
        "attribution_gap; judged splits total_spend into by_scan + by_bill + not_judged; "
        "bill_judged_resources lists the 20 costliest violating ones (source: bill). "
        "cost_source says where the money comes from: focus or cur (a bill), estimate (Cost "
        "Explorer, estimate_method says how), null when no costs are loaded (amounts are then "
        "null). Amounts are decimal strings, exact to the cent.",
        AttributionInput,
        get_cost_attribution_gap,
    ),
    ToolSpec(
        "get_spend_by_tag",
        "Showback: who owns one month's spend, by the values of one tag key. rows[] holds each "
        "value the policy accepts for the key (every value when the policy does not govern it) "
        "with its spend and the number of billed resources carrying it, highest spend first, "
        "paged (limit, cursor -> next_cursor; null on the last page). What no value owns is "
        "split into untagged_spend (resources without the key, compared exactly: another "
        "letter case is not the key), invalid_spend (resources whose value the policy refuses), "
        "unattributable_spend (charges with no resource, e.g. support, tax) and "
        "unmatched_resource_spend (billed resources not in the inventory); the rows of all "
        "pages and these four add up to total_spend. Amounts are decimal strings, each rounded "
        "to the cent from its exact sum; cost_source is focus or cur (a bill), null when no "
        "bill is loaded (amounts are then null). Cost Explorer estimates carry no tag values, "
        "so they are never used here. "
        "Beside each figure as tagged, the same money as allocated: allocation rules (written "
        "by an admin, first matching rule wins) give a value to charges lacking a valid one. "
        "Each row's allocated_spend is its spend plus what the rules give it "
        "(allocated_resource_count resources; allocated_by[] lists {rule, spend} per rule, "
        "highest first), and shared_spend is its share of the shared costs (charges of no "
        "resource, e.g. support or tax, split by shared-cost rules proportionally, evenly or by "
        "fixed percentages): a column of its own, in neither spend nor allocated_spend. rows[] "
        "also holds values only a rule or a shared cost gives (spend 0.00). as_allocated says "
        "what the rules leave without a value (untagged_spend, invalid_spend, "
        "unattributable_spend, unmatched_resource_spend), the total shared_spend, and the rules "
        "read (rules_version, rule_count, shared_rule_count; rules_version null when no rule "
        "was ever written); the allocated_spend and shared_spend of all pages and these four "
        "add up to total_spend. Rules change no compliance: a resource given a value by a rule "
        "still violates the policy and counts in untagged_spend or invalid_spend above.",
        SpendByTagInput,
        get_spend_by_tag,
    ),
]
