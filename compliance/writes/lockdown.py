"""Incident response, as written: switching the MCP lockdown, and the audit row of an audit
log export. What they act on is read in :mod:`compliance.reads.incident`."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import LockdownState
from compliance.permissions import Action
from compliance.permissions.accounts import Viewer, viewer_label
from compliance.reads.incident import AuditFilter, forget_cached_lockdown
from compliance.writes.refusals import refuse, require


def do_set_lockdown(
    enabled: bool, *, reason: str = "", acting: Viewer, interface: str = "cli"
) -> LockdownState:
    require(acting, Action.LOCKDOWN, interface=interface, target="mcp")
    if len(reason) > 500:
        raise refuse(
            EventType.LOCKDOWN_CHANGED,
            "reason: at most 500 characters",
            acting=acting,
            interface=interface,
            target="mcp",
        )
    with transaction.atomic():
        state, _ = LockdownState.objects.select_for_update().get_or_create(pk=1)
        previous = state.enabled
        state.enabled = enabled
        state.changed_at = timezone.now()
        state.changed_by = viewer_label(acting)
        state.reason = reason
        state.save()
        audit.record(
            EventType.LOCKDOWN_CHANGED,
            acting=acting,
            interface=interface,
            target="mcp",
            detail={"enabled": enabled, "was_enabled": previous, "reason": reason},
        )
        transaction.on_commit(forget_cached_lockdown)
    return state


def record_export(filters: AuditFilter, count: int, *, acting: Viewer, destination: str) -> None:
    require(acting, Action.EXPORT_AUDIT_LOG, target=destination[:200])
    with transaction.atomic():
        audit.record(
            EventType.AUDIT_EXPORTED,
            acting=acting,
            target=destination[:200],
            detail={"filters": filters.as_dict(), "count": count},
        )
