"""The one assertion every MCP case makes: refused cleanly, audited, nothing changed."""

from __future__ import annotations

from typing import Any

from compliance.models import AuditEvent
from tests.security.conftest import (
    Reply,
    Snapshot,
    assert_no_leak,
    assert_refusal_audited,
)

MCP_REFUSALS = {"mcp.denied", "auth.failed"}


def refusal_message(reply: Reply) -> str:
    """The readable message of a refusal: a JSON-RPC error, or a tool result with isError."""
    body: Any = reply.json()
    assert isinstance(body, dict), reply.text[:200]
    if "error" in body:
        message = body["error"]["message"]
    else:
        result = body["result"]
        assert result["isError"] is True, reply.text[:300]
        message = result["content"][0]["text"]
        assert result["structuredContent"]["error"]["message"] == message
    assert isinstance(message, str)
    assert len(message) > 10
    return message


def assert_mcp_refused(
    reply: Reply,
    before: Snapshot,
    *,
    statuses: set[int] | None = None,
    event_types: set[str] | None = None,
) -> AuditEvent:
    assert reply.status < 500, reply.text[:300]
    if statuses is not None:
        assert reply.status in statuses, (reply.status, reply.text[:300])
    else:
        assert reply.status == 200 or 400 <= reply.status < 500, reply.status
    assert_no_leak(reply.text)
    message = refusal_message(reply)
    assert "internal error" not in message, message
    events = before.assert_unchanged()
    event = assert_refusal_audited(events, event_types or MCP_REFUSALS)
    assert event.interface == "mcp"
    return event
