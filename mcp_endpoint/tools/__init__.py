"""The MCP tools, by name. Each is a thin call to the compliance selectors and actions.

Names and result fields are the contract in DESIGN.md ("MCP tools").
"""

from __future__ import annotations

from typing import Any

from compliance.reads.resources import AccountNotVisible
from compliance.reads.trends import HistoryError
from compliance.writes.refusals import ActionError
from mcp_endpoint.tools import (
    compliance_tools,
    cost_tools,
    history_tools,
    scan_tools,
    security_tools,
)
from mcp_endpoint.tools.base import ToolCall, ToolFailure, ToolSpec

TOOLS: dict[str, ToolSpec[Any]] = {
    spec.name: spec
    for spec in (
        *compliance_tools.TOOLS,
        *cost_tools.TOOLS,
        *history_tools.TOOLS,
        *scan_tools.TOOLS,
        *security_tools.TOOLS,
    )
}

#: Errors whose message is written for the caller (bad input, an account they may not see):
#: shown as they are. Anything else is an internal error and is never shown.
SAFE_ERRORS: tuple[type[Exception], ...] = (
    ToolFailure,
    AccountNotVisible,
    ActionError,
    HistoryError,
)

__all__ = ["SAFE_ERRORS", "TOOLS", "ToolCall", "ToolFailure", "ToolSpec"]
