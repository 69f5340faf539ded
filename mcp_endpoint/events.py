"""Audit event types of the MCP endpoint.

They are plain strings in ``AuditEvent.event_type`` (not members of the compliance app's
``EventType`` choices), so this app adds event types without a migration of ``compliance``.
"""

from __future__ import annotations

from enum import StrEnum


class McpEvent(StrEnum):
    CALL = "mcp.call"
    DENIED = "mcp.denied"
    AUTH_FAILED = "auth.failed"
    KEY_CREATED = "apikey.created"
    KEY_REVOKED = "apikey.revoked"
