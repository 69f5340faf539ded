"""Audit event types of the checklist and incident response.

Plain strings in ``AuditEvent.event_type``, as the MCP endpoint's are, so adding one needs no
migration of the audit table.
"""

from __future__ import annotations

from enum import StrEnum


class SecurityEvent(StrEnum):
    CHECKLIST_EVALUATED = "checklist.evaluated"
    CHECKLIST_ATTESTED = "checklist.attested"
    LOCKDOWN_CHANGED = "lockdown.changed"
    AUDIT_EXPORTED = "audit.exported"
