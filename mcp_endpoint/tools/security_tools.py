"""The deployment security checklist, as its latest run stored it."""

from __future__ import annotations

from typing import Any

from compliance.checklist.evaluation import latest_report
from compliance.permissions import Action
from mcp_endpoint.tools.base import ToolCall, ToolInput, ToolSpec


class ChecklistInput(ToolInput):
    pass


def get_security_checklist(call: ToolCall, params: ChecklistInput) -> dict[str, Any]:
    """Answers from the database (the last ``security_checklist`` run), never from AWS: a tool
    call does not wait on AWS. Evidence names keys, addresses and accounts, so it is for those
    allowed to see the checklist in the admin (``Action.VIEW_CHECKLIST``, checked at the
    gate)."""
    return latest_report()


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "get_security_checklist",
        "The deployment security checklist as last evaluated: each item's id, section, "
        "title, required flag, kind (automatic, aws, attested), status (pass, fail, "
        "attention, attested, expired, unknown), evidence and checked_at, with summary counts "
        "and `ok` (false when a required item fails or its attestation expired). Needs an "
        "administrator's key.",
        ChecklistInput,
        get_security_checklist,
        action=Action.VIEW_CHECKLIST,
    ),
]
