"""The compliance report: one content, rendered as JSON, CSV or Markdown.

The ``report`` command and the MCP tool ``generate_compliance_report`` both build it here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from compliance import selectors
from compliance.access import Viewer
from compliance.selectors import Breakdown, ResourceFilter

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


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _breakdowns(rows: list[Breakdown]) -> dict[str, dict[str, Any]]:
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


def violation_rows(viewer: Viewer, where: ResourceFilter | None = None) -> Iterator[dict[str, Any]]:
    violations = (
        selectors.current_violations(viewer, where)
        .select_related("resource__account")
        .order_by("resource__arn", "tag_name", "violation_type")
    )
    for v in violations.iterator(chunk_size=2000):
        yield {
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


def build_report(viewer: Viewer, where: ResourceFilter | None = None) -> dict[str, Any]:
    summary = selectors.compliance_summary(viewer, where)
    active = selectors.active_policy()
    return {
        "scan": selectors.scan_block(summary.scan, viewer),
        "policy_version": active.version if active else None,
        "compliance_score": _score(summary.compliance_score),
        "total_resources": summary.total_resources,
        "in_scope_resources": summary.in_scope_resources,
        "compliant_resources": summary.compliant_resources,
        "violation_count": summary.violation_count,
        "violations_by_type": summary.by_violation_type,
        "violations_by_tag": summary.by_tag,
        "by_account": _breakdowns(summary.by_account),
        "by_region": _breakdowns(summary.by_region),
        "by_type": _breakdowns(summary.by_type),
        "violations": list(violation_rows(viewer, where)),
    }


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False)


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=VIOLATION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["violations"]:
        writer.writerow({k: _csv_safe(row[k]) for k in VIOLATION_COLUMNS})
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas: tag values are chosen by whoever tags the resource."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _md(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any], *, top: int = 50) -> str:
    scan = report["scan"]
    score = report["compliance_score"]
    lines = ["# Tag compliance report", ""]
    if scan is None:
        lines += ["No finished scan yet: run `manage.py scan`.", ""]
        return "\n".join(lines)
    lines += [
        f"- Scan: #{scan['id']}, finished {scan['finished_at']}, data {scan['data_quality']}",
        f"- Policy version: {report['policy_version']}",
        f"- Compliance score: {'n/a' if score is None else f'{score:.1%}'}",
        f"- Resources: {report['total_resources']} "
        f"({report['in_scope_resources']} in scope, {report['compliant_resources']} compliant)",
        f"- Violations: {report['violation_count']}",
        "",
    ]
    if scan["failed"]:
        lines += ["## Not read in this scan", ""] + [f"- {_md(f)}" for f in scan["failed"]] + [""]
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
                f"| {_md(name)} | {row['total_resources']} | {row['compliant_resources']} "
                f"| {row['violations']} | {'n/a' if row_score is None else f'{row_score:.1%}'} |"
            )
        lines.append("")
    lines += [
        f"## Violations (first {top})",
        "",
        "| resource | type | tag | value |",
        "|---|---|---|---|",
    ]
    for row in report["violations"][:top]:
        lines.append(
            f"| {_md(row['resource_arn'])} | {row['violation_type']} | {_md(row['tag_name'])} "
            f"| {_md(row['current_value'] or '')} |"
        )
    lines.append("")
    return "\n".join(lines)


RENDERERS = {"json": render_json, "csv": render_csv, "markdown": render_markdown}
