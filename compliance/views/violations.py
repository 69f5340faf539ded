"""Violations by rule: which required tag, broken how, on how many resources, costing what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from compliance import reads
from compliance.core.policy import VIOLATION_TYPES, PolicyError
from compliance.core.policy.model import MAX_KEY_LENGTH, check_resource_type
from compliance.reads import listings
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.reads.violation_rules import RuleFigures, violations_by_rule
from compliance.views.access import dashboard
from compliance.views.key_spend import NONCOMPLIANT_LABEL, UNTAGGED_LABEL, key_spend_rows
from compliance.web.charts import format_money
from compliance.writes.refusals import REGION_PATTERN

VIOLATION_TYPE_LABELS = {
    "missing_required_tag": "Missing required tag",
    "invalid_value": "Invalid value",
    "invalid_format": "Invalid format",
    "wrong_key_case": "Wrong key case",
    "hidden_characters_in_key": "Hidden characters in key",
}
#: Short enough for a bar label (the chart cuts labels at 24 characters).
VIOLATION_TYPE_SHORT = {
    "missing_required_tag": "missing",
    "invalid_value": "bad value",
    "invalid_format": "bad format",
    "wrong_key_case": "key case",
    "hidden_characters_in_key": "hidden characters",
}
#: More values than this in one filter is not a person using the form.
_MAX_FILTER_VALUES = 50


class BadFilter(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Filters:
    where: ResourceFilter
    violation_type: str
    tag: str

    @property
    def any(self) -> bool:
        where = self.where
        return bool(
            where.account_ids
            or where.regions
            or where.resource_types
            or self.violation_type
            or self.tag
        )


def _values(params: QueryDict, name: str) -> list[str]:
    values = sorted({value.strip() for value in params.getlist(name) if value.strip()})
    if len(values) > _MAX_FILTER_VALUES:
        raise BadFilter(f"{name}: at most {_MAX_FILTER_VALUES} values")
    return values


def parse_filters(params: QueryDict) -> Filters:
    regions = _values(params, "region")
    for region in regions:
        if not REGION_PATTERN.fullmatch(region):
            raise BadFilter(f"region: {region[:40]!r} is not an AWS region name (e.g. eu-west-1)")
    types = _values(params, "type")
    for resource_type in types:
        try:
            check_resource_type(resource_type, "type")
        except PolicyError as exc:
            raise BadFilter(str(exc)[:200]) from None
    violation_type = (params.get("violation_type") or "").strip()
    if violation_type and violation_type not in VIOLATION_TYPES:
        raise BadFilter(
            f"violation_type: unknown type {violation_type[:40]!r}; "
            f"choose one of {', '.join(VIOLATION_TYPES)}"
        )
    tag = (params.get("tag") or "").strip()
    if len(tag) > MAX_KEY_LENGTH:
        raise BadFilter(f"tag: a tag key has at most {MAX_KEY_LENGTH} characters")
    return Filters(
        where=ResourceFilter(
            account_ids=_values(params, "account"), regions=regions, resource_types=types
        ),
        violation_type=violation_type,
        tag=tag,
    )


def _rule_row(rule: RuleFigures) -> dict[str, Any]:
    query = urlencode({"tag_key": rule.tag_name, "violation_type": rule.violation_type})
    return {
        "rule": rule,
        "label": VIOLATION_TYPE_LABELS.get(rule.violation_type, rule.violation_type),
        "cost": None if rule.cost_at_stake is None else format_money(rule.cost_at_stake),
        "url": f"{reverse('compliance:resources')}?{query}",
    }


@dashboard
def violation_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        "violation_types": list(VIOLATION_TYPE_LABELS.items()),
        "choices": listings.filter_choices(request.user),
    }
    try:
        filters = parse_filters(request.GET)
        breakdown = violations_by_rule(
            request.user, filters.where, violation_type=filters.violation_type, tag_name=filters.tag
        )
    except (BadFilter, AccountNotVisible) as exc:
        context["error"] = str(exc)
        return render(request, "compliance/violations.html", context, status=400)
    scan = reads.latest_scan()
    rows = [_rule_row(rule) for rule in breakdown.rules]
    # The same figures as the overview and the costs page, narrowed as the rules are.
    attribution = reads.cost_attribution(request.user, filters.where)
    key_rows = (
        [row for row in key_spend_rows(attribution) if not filters.tag or row.key == filters.tag]
        if attribution.cost_source is not None
        else []
    )
    # Rules whose every violation is exempted stay in the table but cost nothing: not charted.
    charted = [row for row in rows if row["rule"].violations]
    context.update(
        filters=filters,
        scan=scan,
        scan_block=reads.scan_block(scan, request.user),
        breakdown=breakdown,
        rows=rows,
        chart=[
            (
                f"{row['rule'].tag_name} · "
                + VIOLATION_TYPE_SHORT.get(row["rule"].violation_type, row["rule"].violation_type),
                row["rule"].cost_at_stake if breakdown.costed else row["rule"].violations,
                row["url"],
            )
            for row in charted
        ],
        key_rows=key_rows,
        untagged_label=UNTAGGED_LABEL,
        noncompliant_label=NONCOMPLIANT_LABEL,
        total_cost=None
        if breakdown.cost_at_stake is None
        else format_money(breakdown.cost_at_stake),
    )
    return render(request, "compliance/violations.html", context)
