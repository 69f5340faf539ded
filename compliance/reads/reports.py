"""The compliance report: one content, rendered as JSON, CSV or Markdown.

The ``report`` command and the MCP tool ``generate_compliance_report`` both build it here.

Money in the report is the exact Decimal figure rounded to the cent (half to even) and written
as a string (``"1234.50"``): a JSON number is a float to most readers, and a float cannot hold
most cent amounts exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from compliance.core.costs import to_cents
from compliance.core.untrusted import markdown_text, reveal
from compliance.models import Violation
from compliance.permissions.accounts import Viewer
from compliance.reads.money import CostAttribution, cost_attribution, resource_costs
from compliance.reads.policy import active_policy
from compliance.reads.resources import (
    ResourceFilter,
    current_violations,
    exempted_violations,
    exemptions,
)
from compliance.reads.scans import scan_block
from compliance.reads.summary import Breakdown, compliance_summary

VIOLATION_COLUMNS = (
    "resource_arn",
    "resource_type",
    "region",
    "account_id",
    "violation_type",
    "tag_name",
    "current_value",
    "expected",
    "first_detected_at",
)
#: The report's CSV: the violation columns and the monthly cost of the violating resource.
COST_COLUMN = "cost_impact_monthly"
CSV_COLUMNS = (*VIOLATION_COLUMNS, COST_COLUMN)

#: How the Markdown report names where its money comes from.
COST_SOURCES = {
    "focus": "the imported FOCUS bill",
    "cur": "the imported AWS CUR 2.0 bill",
    "estimate": "Cost Explorer (per-resource figures estimated)",
}


def money(amount: Decimal | None) -> str | None:
    """An exact amount as a string to the cent, ``None`` staying ``None`` (unknown)."""
    return None if amount is None else str(to_cents(amount))


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def breakdowns(rows: list[Breakdown]) -> dict[str, dict[str, Any]]:
    return {
        row.key: {
            "total_resources": row.total_resources,
            "in_scope_resources": row.in_scope_resources,
            "compliant_resources": row.compliant_resources,
            "violations": row.violations,
            "compliance_score": _score(row.compliance_score),
        }
        for row in rows
    }


def violation_row(v: Violation) -> dict[str, Any]:
    return {
        "resource_arn": v.resource.arn,
        "resource_type": v.resource.resource_type,
        "region": v.resource.region,
        "account_id": v.resource.account.account_id,
        "violation_type": v.violation_type,
        "tag_name": v.tag_name,
        "current_value": v.current_value,
        "expected": v.expected,
        "first_detected_at": v.first_detected_at.isoformat(),
    }


def ordered_violations(violations: QuerySet[Violation]) -> QuerySet[Violation]:
    """The one order every listing uses; ``id`` last so pages never overlap."""
    return violations.select_related("resource__account").order_by(
        "resource__arn", "tag_name", "violation_type", "id"
    )


#: What :func:`violation_row` reads; a listing of rows loads nothing else (a resource's tags
#: and an account's settings are the larger part of the rows otherwise).
VIOLATION_ROW_FIELDS = (
    "violation_type",
    "tag_name",
    "current_value",
    "expected",
    "first_detected_at",
    "resource__arn",
    "resource__resource_type",
    "resource__region",
    "resource__account__account_id",
)


def listed_violations(violations: QuerySet[Violation]) -> QuerySet[Violation]:
    """:func:`ordered_violations`, loading only what :func:`violation_row` shows."""
    return ordered_violations(violations).only(*VIOLATION_ROW_FIELDS)


def violation_rows(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The violations that count (exempted ones left out), in a stable order."""
    violations = listed_violations(current_violations(viewer, where, now=now))
    for v in violations.iterator(chunk_size=2000):
        yield violation_row(v)


def exempted_violation_rows(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The exempted violations, each with the exemption that covers it (the one lasting
    longest, when several do)."""
    violations = listed_violations(exempted_violations(viewer, where, now=now))
    covering = {e.pk: e for e in exemptions(viewer, now=now)}
    for v in violations.iterator(chunk_size=2000):
        exemption_id: int | None = getattr(v, "exemption_id", None)
        exemption = covering.get(exemption_id) if exemption_id is not None else None
        yield {
            **violation_row(v),
            "exemption": None
            if exemption is None
            else {
                "id": exemption.pk,
                "reason": exemption.reason,
                "owner": exemption.owner.get_username(),
                "expires_at": exemption.expires_at.isoformat(),
            },
        }


def cost_figures(attribution: CostAttribution) -> dict[str, Any]:
    """The spend figures of the report; every amount ``None`` when no costs are loaded."""
    loaded = attribution.cost_source is not None

    def shown(amount: Decimal) -> str | None:
        return money(amount) if loaded else None

    period = (attribution.period_start, attribution.period_end)
    return {
        "cost_source": attribution.cost_source,
        "estimate_method": attribution.estimate_method,
        "billing_period_start": period[0].date().isoformat() if period[0] else None,
        "billing_period_end": period[1].date().isoformat() if period[1] else None,
        "currency": attribution.currency,
        "total_spend": shown(attribution.total_spend),
        "attributable_spend": shown(attribution.attributable_spend),
        "attribution_gap": shown(attribution.attribution_gap),
        "unattributable_spend": shown(attribution.unattributable_spend),
        "unmatched_resource_spend": shown(attribution.unmatched_resource_spend),
        "untagged_spend": {key: money(amount) for key, amount in attribution.untagged_spend.items()}
        if loaded
        else {},
        "noncompliant_spend": {
            key: money(amount) for key, amount in attribution.noncompliant_spend.items()
        }
        if loaded
        else {},
        **bill_judgement_fields(attribution, shown),
    }


def bill_judgement_fields(
    attribution: CostAttribution, shown: Callable[[Decimal], str | None]
) -> dict[str, Any]:
    """What the bill says of the resources the inventory does not hold (``source: bill``),
    with the spend judged by scan, by bill and not at all; ``shown`` formats an amount (or
    gives ``None`` when no costs are loaded)."""
    judged, split = attribution.judged_by_bill, attribution.judged
    return {
        "judged_by_bill": {
            "spend": shown(judged.spend),
            "gap": shown(judged.gap),
            "resource_count": judged.resource_count,
            "noncompliant_count": judged.noncompliant_count,
            "untagged_spend": {key: money(value) for key, value in judged.untagged_spend.items()},
            "noncompliant_spend": {
                key: money(value) for key, value in judged.noncompliant_spend.items()
            },
            "keys_on_bill": judged.keys_on_bill,
            "bill_has_tags": judged.bill_has_tags,
            "note": judged.note,
        },
        "attribution_gap_with_bill": shown(attribution.attribution_gap_with_bill),
        "judged": {
            "by_scan": shown(split.by_scan),
            "by_bill": shown(split.by_bill),
            "not_judged": shown(split.not_judged),
        },
        "bill_judged_resources": [
            {
                "resource_id": resource.resource_id,
                "account_id": resource.account_id,
                "resource_type": resource.resource_type,
                "spend": money(resource.spend),
                "violations": resource.violations,
                "source": "bill",
            }
            for resource in attribution.bill_judged_resources
        ],
    }


def build_report(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> dict[str, Any]:
    """The report as of ``now``: exempted violations are listed apart and counted nowhere.

    Cost figures are those of the latest billing period loaded; each violation carries its
    resource's cost in that period (``cost_impact_monthly``, ``None`` while no costs are loaded).
    """
    now = now or timezone.now()
    summary = compliance_summary(viewer, where, now=now)
    active = active_policy()
    violations = list(violation_rows(viewer, where, now=now))
    exempted = list(exempted_violation_rows(viewer, where, now=now))
    impact = resource_costs(viewer, {row["resource_arn"] for row in violations + exempted})
    for row in violations + exempted:
        row[COST_COLUMN] = money(impact.get(row["resource_arn"]))
    return {
        "scan": scan_block(summary.scan, viewer),
        "policy_version": active.version if active else None,
        "compliance_score": _score(summary.compliance_score),
        "total_resources": summary.total_resources,
        "in_scope_resources": summary.in_scope_resources,
        "compliant_resources": summary.compliant_resources,
        "violation_count": summary.violation_count,
        "violations_by_type": summary.by_violation_type,
        "violations_by_tag": summary.by_tag,
        "by_account": breakdowns(summary.by_account),
        "by_region": breakdowns(summary.by_region),
        "by_type": breakdowns(summary.by_type),
        **cost_figures(cost_attribution(viewer, where)),
        "violations": violations,
        "exempted_violation_count": summary.exempted_violation_count,
        "exempted_violations": exempted,
    }


def render_json(report: dict[str, Any]) -> str:
    # Hidden characters are not revealed here: with ``ensure_ascii`` (the default) every
    # non-ASCII character is written as an escape (``Own\u200ber``), which is visible to anyone
    # reading the file and exact for any program reading it.
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=True)


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["violations"]:
        # The cost is ours, not a tag value: a credit's "-1.00" must stay a number.
        writer.writerow(
            {k: row.get(k) if k == COST_COLUMN else csv_safe(row.get(k)) for k in CSV_COLUMNS}
        )
    return out.getvalue()


#: What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list). Tab, CR and
#: LF are on that list too; :func:`csv_safe` shows them as markers first, so no cell starts
#: with one.
_FORMULA_STARTS = ("=", "+", "-", "@")


def csv_safe(value: Any) -> Any:
    """A cell as a spreadsheet may show it: tag values are chosen by whoever tags the resource.

    Hidden characters are shown as markers (``Own⟨U+200B⟩er``), so a spreadsheet cannot show a
    key that looks like another; line breaks become markers too, so a cell stays on its row in
    tools that split lines naively. A value that would start a formula (after any spaces,
    which some spreadsheets skip) is prefixed with ``'`` and stays text. Non-text values (a
    Decimal cost) are left alone: a credit's ``-1.00`` must stay a number.
    """
    if not isinstance(value, str):
        return value
    value = reveal(value)
    if value.lstrip(" ")[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def render_markdown(report: dict[str, Any], *, top: int = 50) -> str:
    scan = report["scan"]
    score = report["compliance_score"]
    lines = ["# Tag compliance report", ""]
    if scan is None:
        lines += ["No finished scan yet: run `manage.py scan`.", ""]
        return "\n".join(lines)
    lines += [
        f"- Scan: #{scan['id']}, finished {scan['finished_at']}, data {scan['data_quality']}",
        f"- Policy version: {markdown_text(str(report['policy_version']))}",
        f"- Compliance score: {'n/a' if score is None else f'{score:.1%}'}",
        f"- Resources: {report['total_resources']} "
        f"({report['in_scope_resources']} in scope, {report['compliant_resources']} compliant)",
        f"- Violations: {report['violation_count']}",
        f"- Exempted violations (not counted): {report['exempted_violation_count']}",
        "",
    ]
    if scan["failed"]:
        failed = [f"- {markdown_text(str(f))}" for f in scan["failed"]]
        lines += ["## Not read in this scan", "", *failed, ""]
    for title, key in (
        ("By account", "by_account"),
        ("By region", "by_region"),
        ("By type", "by_type"),
    ):
        lines += [
            f"## {title}",
            "",
            "| | resources | compliant | violations | score |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, row in report[key].items():
            row_score = row["compliance_score"]
            lines.append(
                f"| {markdown_text(str(name))} | {row['total_resources']} "
                f"| {row['compliant_resources']} "
                f"| {row['violations']} | {'n/a' if row_score is None else f'{row_score:.1%}'} |"
            )
        lines.append("")
    lines += _money_section(report)
    costed = report.get("cost_source") is not None
    lines += [
        f"## Violations (first {top}{', highest monthly cost first' if costed else ''})",
        "",
        "| resource | type | tag | value | monthly cost |",
        "|---|---|---|---|---:|",
    ]
    for row in _by_cost_impact(report["violations"])[:top]:
        lines.append(
            f"| {markdown_text(row['resource_arn'])} | {row['violation_type']} "
            f"| {markdown_text(row['tag_name'])} "
            f"| {markdown_text(row['current_value'] or '')} | {row.get(COST_COLUMN) or 'n/a'} |"
        )
    lines.append("")
    return "\n".join(lines)


def _by_cost_impact(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest monthly cost first, unknown costs last; ties keep the report's (ARN) order."""

    def key(row: dict[str, Any]) -> tuple[bool, Decimal]:
        cost = row.get(COST_COLUMN)
        return (cost is None, -Decimal(cost) if cost is not None else Decimal(0))

    return sorted(rows, key=key)


def _money_section(report: dict[str, Any]) -> list[str]:
    lines = ["## Money", ""]
    source = report.get("cost_source")
    if source is None:
        return [
            *lines,
            "No costs loaded: run `manage.py import_costs` (a FOCUS or CUR bill) "
            "or `manage.py fetch_costs` (Cost Explorer).",
            "",
        ]
    lines += [
        f"Billing period {report['billing_period_start']} to {report['billing_period_end']}, "
        f"from {COST_SOURCES.get(source, source)}, in {markdown_text(str(report['currency']))}, "
        "to the cent.",
        "",
    ]
    if report.get("estimate_method"):
        lines += [f"Estimate: {markdown_text(report['estimate_method'])}", ""]
    lines += [
        "| spend | amount |",
        "|---|---:|",
        f"| Total | {report['total_spend']} |",
        f"| Attributable (resources with no violation) | {report['attributable_spend']} |",
        f"| Attribution gap (resources with a violation) | {report['attribution_gap']} |",
        f"| Unattributable (no resource: tax, support, credits) "
        f"| {report['unattributable_spend']} |",
        f"| On resources not in the inventory | {report['unmatched_resource_spend']} |",
        "",
        "| required tag | untagged spend (the key is absent) "
        "| non-compliant spend (the key is absent or its value violates the policy) |",
        "|---|---:|---:|",
        *(
            f"| {markdown_text(key)} | {report['untagged_spend'].get(key, '')} "
            f"| {report.get('noncompliant_spend', {}).get(key, '')} |"
            for key in sorted(
                report["untagged_spend"].keys() | report.get("noncompliant_spend", {}).keys()
            )
        ),
        "",
    ]
    return lines


RENDERERS = {"json": render_json, "csv": render_csv, "markdown": render_markdown}
