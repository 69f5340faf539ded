"""Tag-compliance tools: thin calls to the selectors and the report the dashboard uses."""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import QuerySet
from pydantic import Field, model_validator

from compliance import reads
from compliance.audit.events import EventType
from compliance.core import policy
from compliance.models import Violation
from compliance.permissions import Action
from compliance.reads import exports, reports, violation_rules
from compliance.writes import exports as export_writes
from mcp_endpoint.tools.base import (
    Arn,
    FilterInput,
    PagedInput,
    ResourceTypeName,
    TagKey,
    TagValue,
    ToolCall,
    ToolFailure,
    ToolInput,
    ToolSpec,
    ViolationTypeName,
    money,
    next_cursor,
    page_offset,
    scan_of,
)
from mcp_endpoint.tools.untrusted import FLAGGED_FIELD, DataView

FIRST = (
    "Answers come from the last finished scan (see `scan`: its id, when it finished, and "
    "whether data is complete or partial); they never call AWS."
)


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _violation_page(
    call: ToolCall, params: PagedInput, violations: QuerySet[Violation], tool: str
) -> tuple[list[dict[str, Any]], str | None]:
    offset = page_offset(tool, params)
    rows = list(reports.listed_violations(violations)[offset : offset + params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    cost = reads.resource_costs(call.viewer, {v.resource.arn for v in rows})
    page = [
        reports.violation_row(v) | {"cost_impact_monthly": money(cost.get(v.resource.arn))}
        for v in rows
    ]
    return page, next_cursor(tool, params, offset, has_more)


# --- get_tagging_policy ----------------------------------------------------------------------


class NoInput(ToolInput):
    pass


def get_tagging_policy(call: ToolCall, params: NoInput) -> dict[str, Any]:
    active = reads.active_policy()
    if active is None:
        raise ToolFailure("policy: no tagging policy is active yet (an admin imports one)")
    document = active.document
    return {
        "version": active.version,
        "name": active.name,
        "source_format": active.source_format,
        "required_tags": document.get("required_tags", []),
        "optional_tags": document.get("optional_tags", []),
        "tag_naming_rules": document.get("tag_naming_rules", {}),
        "scan": scan_of(call.viewer),
    }


# --- check_tag_compliance --------------------------------------------------------------------


class ComplianceInput(PagedInput):
    violation_types: list[ViolationTypeName] = Field(
        default_factory=list,
        max_length=len(policy.VIOLATION_TYPES),
        description="Only these kinds of violation.",
    )
    tag_names: list[TagKey] = Field(
        default_factory=list, max_length=50, description="Only violations of these tag keys."
    )


def check_tag_compliance(call: ToolCall, params: ComplianceInput) -> dict[str, Any]:
    where = params.resource_filter()
    summary = reads.compliance_summary(call.viewer, where)
    violations = reads.current_violations(call.viewer, where)
    if params.violation_types:
        violations = violations.filter(violation_type__in=params.violation_types)
    if params.tag_names:
        violations = violations.filter(tag_name__in=params.tag_names)
    page, cursor = _violation_page(call, params, violations, "check_tag_compliance")
    return {
        "compliance_score": _score(summary.compliance_score),
        "total_resources": summary.total_resources,
        "in_scope_resources": summary.in_scope_resources,
        "compliant_resources": summary.compliant_resources,
        "violation_count": summary.violation_count,
        "violations_by_type": summary.by_violation_type,
        "violations_by_tag": summary.by_tag,
        "violations": page,
        "next_cursor": cursor,
        "scan": reads.scan_block(summary.scan, call.viewer),
    }


# --- find_untagged_resources -----------------------------------------------------------------


class UntaggedInput(PagedInput):
    tag_names: list[TagKey] = Field(
        default_factory=list,
        max_length=50,
        description="Required tag keys to look for; empty: any required tag.",
    )
    include_wrong_case: bool = Field(
        False,
        description="Also count a key present only in other letter case (e.g. owner for Owner) "
        "as missing: cost allocation tags are case-sensitive.",
    )


def find_untagged_resources(call: ToolCall, params: UntaggedInput) -> dict[str, Any]:
    kinds = [policy.MISSING_REQUIRED_TAG]
    if params.include_wrong_case:
        kinds.append(policy.WRONG_KEY_CASE)
    violations = reads.current_violations(call.viewer, params.resource_filter()).filter(
        violation_type__in=kinds
    )
    if params.tag_names:
        violations = violations.filter(tag_name__in=params.tag_names)
    resources = (
        reads.present_resources(call.viewer, params.resource_filter())
        .filter(pk__in=violations.values("resource_id"))
        .select_related("account")
        .order_by("arn", "id")
    )
    offset = page_offset("find_untagged_resources", params)
    rows = list(resources[offset : offset + params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    missing: dict[int, list[str]] = {}
    for resource_id, tag in violations.filter(resource__in=rows).values_list(
        "resource_id", "tag_name"
    ):
        missing.setdefault(resource_id, []).append(tag)
    cost = reads.resource_costs(call.viewer, {r.arn for r in rows})
    # One kind and at most one tag: counted from the stored rule figures while they hold.
    total = (
        violation_rules.stored_affected_resources(
            call.viewer,
            params.resource_filter(),
            violation_type=kinds[0],
            tag_name=params.tag_names[0] if params.tag_names else "",
        )
        if len(kinds) == 1 and len(set(params.tag_names)) <= 1
        else None
    )
    return {
        "total_untagged": resources.count() if total is None else total,
        "resources": [
            {
                "resource_arn": r.arn,
                "resource_type": r.resource_type,
                "region": r.region,
                "account_id": r.account.account_id,
                "name": r.name,
                "missing_tags": sorted(missing.get(r.pk, [])),
                "cost_impact_monthly": money(cost.get(r.arn)),
            }
            for r in rows
        ],
        "next_cursor": next_cursor("find_untagged_resources", params, offset, has_more),
        "scan": scan_of(call.viewer),
    }


# --- validate_resource_tags ------------------------------------------------------------------


class ValidateInput(ToolInput):
    resource_arn: Arn | None = Field(
        None, description="Judge the tags this resource had at the last scan."
    )
    resource_type: ResourceTypeName | None = Field(
        None, description="With `tags`: judge proposed tags for a resource of this type."
    )
    tags: dict[TagKey, TagValue] | None = Field(
        None, max_length=50, description="Proposed tags, key -> value."
    )

    @model_validator(mode="after")
    def _one_subject(self) -> ValidateInput:
        by_arn = self.resource_arn is not None
        by_tags = self.resource_type is not None or self.tags is not None
        if by_arn == by_tags:
            raise ValueError("give either resource_arn, or resource_type and tags")
        if by_tags and (self.resource_type is None or self.tags is None):
            raise ValueError("resource_type and tags go together")
        return self


def validate_resource_tags(call: ToolCall, params: ValidateInput) -> dict[str, Any]:
    active = reads.active_policy()
    if active is None:
        raise ToolFailure("policy: no tagging policy is active yet (an admin imports one)")
    judged_by = policy.policy_from_dict(active.document)
    result: dict[str, Any] = {"policy_version": active.version}
    if params.resource_arn is not None:
        try:
            resource = reads.resource_for(call.viewer, params.resource_arn, include_gone=False)
        except reads.AccountNotVisible:
            raise ToolFailure("resource_arn: not found or not visible to you") from None
        resource_type, tags = resource.resource_type, dict(resource.tags)
        result |= {"resource_arn": resource.arn, "tags": tags, "scan": scan_of(call.viewer)}
    else:
        resource_type, tags = str(params.resource_type), dict(params.tags or {})
    findings = policy.evaluate(judged_by, resource_type, tags)
    return result | {
        "resource_type": resource_type,
        "in_scope": policy.is_in_scope(judged_by, resource_type),
        "compliant": not findings,
        "violations": [
            {
                "violation_type": f.violation_type,
                "tag_name": f.tag_name,
                "current_value": f.current_value,
                "expected": f.expected,
            }
            for f in findings
        ],
    }


# --- generate_compliance_report --------------------------------------------------------------


class ReportInput(FilterInput):
    format: Literal["json", "markdown", "csv"] = Field(
        "json", description="json: structured; markdown: for people; csv: the violation rows."
    )
    max_violations: int = Field(
        200, ge=0, le=5000, description="Violation rows included (the rest: use paging tools)."
    )


def generate_compliance_report(call: ToolCall, params: ReportInput) -> dict[str, Any]:
    report = export_writes.do_generate_report(
        call.viewer,
        params.resource_filter(),
        interface=call.interface,
        correlation_id=call.correlation_id,
    )
    total = len(report["violations"])
    report["violations"] = report["violations"][: params.max_violations]
    report["violations_truncated"] = total > params.max_violations
    if params.format == "json":
        return report
    # The document is rendered from the report shown as data (hidden characters shown, long
    # values cut), and the flags found on the way are passed on to the result.
    view = DataView()
    rendered = reports.RENDERERS[params.format](view.view(report))
    return {
        "format": params.format,
        "content": rendered,
        "violations_truncated": report["violations_truncated"],
        "scan": report["scan"],
        FLAGGED_FIELD: view.flags,
    }


# --- export_violations_csv -------------------------------------------------------------------


class ExportInput(PagedInput):
    limit: int = Field(1000, ge=1, le=5000, description="Rows per page (1-5000).")


def export_violations_csv(call: ToolCall, params: ExportInput) -> dict[str, Any]:
    def page_of_violations() -> tuple[list[dict[str, Any]], str | None]:
        violations = reads.current_violations(call.viewer, params.resource_filter())
        return _violation_page(call, params, violations, "export_violations_csv")

    page, cursor = export_writes.do_export(
        EventType.VIOLATIONS_EXPORTED,
        call.viewer,
        page_of_violations,
        interface=call.interface,
        detail={"filters": params.model_dump(mode="json", exclude={"cursor"})},
        correlation_id=call.correlation_id,
    )
    view = DataView()
    csv_text = reports.render_csv({"violations": view.rows(page, "violations")})
    return {
        "columns": list(reports.CSV_COLUMNS),
        "rows": len(page),
        "csv": csv_text,
        "next_cursor": cursor,
        "scan": scan_of(call.viewer),
        FLAGGED_FIELD: view.flags,
    }


# --- generate_custodian_policy ---------------------------------------------------------------


def generate_custodian_policy(call: ToolCall, params: FilterInput) -> dict[str, Any]:
    try:
        text = export_writes.do_generate_custodian_policy(
            call.viewer,
            params.resource_filter(),
            interface=call.interface,
            correlation_id=call.correlation_id,
        )
    except exports.ExportError as exc:
        raise ToolFailure(str(exc)) from None
    return {"format": "yaml", "policy": text, "scan": scan_of(call.viewer)}


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "get_tagging_policy",
        "Call this first: the active tagging policy (required tags, allowed values, format "
        "rules, which resource types each applies to) that every other tool judges by. " + FIRST,
        NoInput,
        get_tagging_policy,
    ),
    ToolSpec(
        "check_tag_compliance",
        "Compliance score (compliant / in-scope resources, 0-1), resource counts and the "
        "violations, paged (limit, cursor -> next_cursor; null on the last page). Each violation: "
        "resource_arn, resource_type, region, account_id, violation_type (missing_required_tag, "
        "invalid_value, invalid_format, wrong_key_case, hidden_characters_in_key), tag_name, "
        "current_value, expected, "
        "cost_impact_monthly (the resource's monthly cost; null until costs are loaded). " + FIRST,
        ComplianceInput,
        check_tag_compliance,
    ),
    ToolSpec(
        "find_untagged_resources",
        "Resources missing required tags (optionally only the given tag keys), paged, each with "
        "missing_tags and cost_impact_monthly. " + FIRST,
        UntaggedInput,
        find_untagged_resources,
    ),
    ToolSpec(
        "validate_resource_tags",
        "Check tags against the active policy without touching AWS: either proposed tags "
        "(resource_type + tags) before tagging, or a resource's stored tags (resource_arn). "
        "Returns compliant, in_scope and the violations.",
        ValidateInput,
        validate_resource_tags,
    ),
    ToolSpec(
        "generate_compliance_report",
        "The compliance report (the same content as the `report` command and the dashboard): "
        "score, counts by account, region and type, violations by type and tag, and violation "
        "rows (up to max_violations). format: json, markdown or csv. " + FIRST,
        ReportInput,
        generate_compliance_report,
        action=Action.EXPORT,
    ),
    ToolSpec(
        "export_violations_csv",
        "Violations as CSV text (columns listed in `columns`; values starting with = + - @ are "
        "quoted against spreadsheet formulas), paged with limit and cursor. " + FIRST,
        ExportInput,
        export_violations_csv,
        action=Action.EXPORT,
    ),
    ToolSpec(
        "generate_custodian_policy",
        "A Cloud Custodian policy (YAML) that finds what the current violations found: one "
        "report-only policy per resource type with violations (no action changes a resource), "
        "filtering on each required tag absent or with a refused value. Narrow with "
        "account_ids, regions, resource_types. " + FIRST,
        FilterInput,
        generate_custodian_policy,
        action=Action.EXPORT,
    ),
]
