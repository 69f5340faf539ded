"""Scan tools: the history (read) and starting one (the ``scan`` scope)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compliance import reads
from compliance.permissions import Action
from compliance.permissions.accounts import sees_all_accounts
from compliance.reads import scans as scan_reads
from compliance.writes.refusals import ActionError
from compliance.writes.scans import do_start_scan
from mcp_endpoint.tools.base import (
    MAX_LIMIT,
    FilterInput,
    PageInput,
    ToolCall,
    ToolFailure,
    ToolSpec,
    next_cursor,
    page_offset,
    scan_of,
)


class ScansInput(PageInput):
    limit: int = Field(20, ge=1, le=MAX_LIMIT, description="Scans per page, newest first.")


def list_scans(call: ToolCall, params: ScansInput) -> dict[str, Any]:
    """The scans the caller may see (``compliance.reads.scans``); what could not be read is
    listed for the viewer's accounts only, and totals only for viewers who see every account."""
    everything = sees_all_accounts(call.viewer)
    offset = page_offset("list_scans", params)
    rows, has_more = scan_reads.scan_history(call.viewer, offset, params.limit)
    items = []
    for scan in rows:
        item: dict[str, Any] = {
            "id": scan.pk,
            "status": scan.status,
            "trigger": scan.trigger,
            "created_at": scan.created_at.isoformat(),
            "started_at": scan.started_at.isoformat() if scan.started_at else None,
            "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
            "data_quality": scan.data_quality,
            "failed": (reads.scan_block(scan, call.viewer) or {}).get("failed", []),
        }
        if everything:
            # Estate-wide totals would reveal the size of accounts a narrower viewer cannot see.
            item |= {
                "total_resources": scan.total_resources,
                "compliant_resources": scan.compliant_resources,
                "violation_count": scan.violation_count,
                "compliance_score": scan.compliance_score,
                "aws_requests": scan.aws_requests,
                "throttled_requests": scan.throttled_requests,
            }
        items.append(item)
    return {
        "scans": items,
        "next_cursor": next_cursor("list_scans", params, offset, has_more),
        "scan": scan_of(call.viewer),
    }


class StartScanInput(FilterInput):
    pass


def start_scan(call: ToolCall, params: StartScanInput) -> dict[str, Any]:
    try:
        scan = do_start_scan(
            account_ids=params.account_ids,
            regions=params.regions,
            resource_types=params.resource_types,
            acting=call.viewer,
            interface=call.interface,
        )
    except ActionError as exc:
        raise ToolFailure(str(exc)) from None
    return {
        "scan_id": scan.pk,
        "status": scan.status,
        "account_ids": scan.account_ids,
        "regions": scan.regions,
        "resource_types": scan.resource_types,
        "hint": "The scan runs in the background; call list_scans to follow it.",
        "scan": scan_of(call.viewer),
    }


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "list_scans",
        "Scan history, newest first, paged: status (queued, running, complete, partial, "
        "failed), when, data_quality and what could not be read in your accounts. Use it to "
        "judge how fresh answers are, and to follow a scan started with start_scan.",
        ScansInput,
        list_scans,
    ),
    ToolSpec(
        "start_scan",
        "Queue a new scan of your accounts (needs an API key with the `scan` scope). Optional "
        "account_ids, regions and resource_types narrow it. Returns at once with the scan id; "
        "follow it with list_scans.",
        StartScanInput,
        start_scan,
        action=Action.START_SCAN,
        read_only=False,
    ),
]
