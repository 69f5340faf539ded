"""The deployment security checklist, as its latest run stored it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import PermissionsMixin

from compliance.checklist.evaluation import latest_report
from compliance.permissions.accounts import NarrowedViewer
from mcp_endpoint.tools.base import ToolCall, ToolFailure, ToolInput, ToolSpec


class ChecklistInput(ToolInput):
    pass


def get_security_checklist(call: ToolCall, params: ChecklistInput) -> dict[str, Any]:
    """Answers from the database (the last ``security_checklist`` run), never from AWS: a tool
    call does not wait on AWS. Evidence names keys, addresses and accounts, so it is for those
    allowed to see the checklist in the admin."""
    viewer = call.viewer
    person = viewer.user if isinstance(viewer, NarrowedViewer) else viewer
    if not (
        isinstance(person, PermissionsMixin) and person.has_perm("compliance.view_checklistresult")
    ):
        raise ToolFailure(
            "the security checklist is shown to administrators only "
            "(permission compliance.view_checklistresult)"
        )
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
    ),
]
