"""History and remediation tools: thin calls to ``compliance.reads`` and
``compliance.reads.suggestions``."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field

from compliance import reads
from compliance.reads import suggestions
from mcp_endpoint.tools.base import Arn, FilterInput, ToolCall, ToolInput, ToolSpec, scan_of


def _plain(value: Any) -> Any:
    """Dataclasses, dates and nested containers as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _since(day: date | None) -> datetime | None:
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


class SuggestInput(ToolInput):
    resource_arn: Arn = Field(description="The resource to suggest tag values for.")


def suggest_tags(call: ToolCall, params: SuggestInput) -> dict[str, Any]:
    found = suggestions.suggest_tags(call.viewer, params.resource_arn)
    return {
        "resource_arn": params.resource_arn,
        "suggestions": _plain(found),
        "scan": scan_of(call.viewer),
    }


class HistoryInput(FilterInput):
    granularity: Literal["day", "week", "month"] = Field("day", description="Period length.")
    since: date | None = Field(None, description="First day (YYYY-MM-DD); default: all reads.")


def get_violation_history(call: ToolCall, params: HistoryInput) -> dict[str, Any]:
    periods = reads.violation_history(
        call.viewer,
        params.resource_filter(),
        granularity=params.granularity,
        since=_since(params.since),
    )
    return {"periods": _plain(periods), "scan": scan_of(call.viewer)}


class DriftInput(FilterInput):
    from_scan: int | None = Field(None, ge=1, description="Changes after this scan id.")
    to_scan: int | None = Field(None, ge=1, description="Up to this scan id (default: latest).")
    since: date | None = Field(None, description="Changes on or after this day (YYYY-MM-DD).")
    limit: int = Field(
        reads.DEFAULT_DRIFT_LIMIT, ge=1, le=reads.MAX_DRIFT_LIMIT, description="Resources."
    )
    cursor: str | None = Field(None, max_length=1024, description="next_cursor of the last page.")


def detect_tag_drift(call: ToolCall, params: DriftInput) -> dict[str, Any]:
    drift = reads.tag_drift(
        call.viewer,
        params.resource_filter(),
        from_scan=params.from_scan,
        to_scan=params.to_scan,
        since=_since(params.since),
        limit=params.limit,
        cursor=params.cursor,
    )
    result: dict[str, Any] = _plain(drift)
    return result | {"scan": scan_of(call.viewer)}


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "suggest_tags",
        "For one resource, candidate values for each required tag it lacks or gets wrong, best "
        "first, each with confidence (0-1), source (parent, stack, vpc, name_pattern, policy) "
        "and evidence. Use after find_untagged_resources to propose fixes.",
        SuggestInput,
        suggest_tags,
    ),
    ToolSpec(
        "get_violation_history",
        "Violations per day, week or month, oldest first: open at the end of each period "
        "(from that period's last scan) and newly detected in it. Use for trends.",
        HistoryInput,
        get_violation_history,
    ),
    ToolSpec(
        "detect_tag_drift",
        "Tag keys added, removed and changed per resource between two scans (default: at the "
        "last scan), paged by resource (limit, cursor -> next_cursor), with a summary.",
        DriftInput,
        detect_tag_drift,
    ),
]
