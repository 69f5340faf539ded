"""Writing audit events: the one writer, called by the writes (inside their transaction), the
two MCP gates and the web request's refusals (``compliance.writes.web_events``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from compliance.audit.events import EventType, known
from compliance.models import AuditEvent
from compliance.permissions.callers import Viewer, person_of, viewer_label

Outcome = AuditEvent.Outcome


def record(
    event_type: EventType,
    *,
    acting: Viewer,
    target: str = "",
    detail: dict[str, Any] | None = None,
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.SUCCESS,
    interface: str = "cli",
    correlation_id: str = "",
    client_address: str | None = None,
) -> AuditEvent:
    """Write one audit row; call it inside the transaction of the change it records.

    Only registered event types are written (``compliance.audit.events``): a name nobody
    registered would be a row no filter, export or person knows how to read.
    """
    person = person_of(acting)
    actor = person if isinstance(person, User) else None
    return AuditEvent.objects.create(
        event_type=known(event_type).value,
        outcome=outcome,
        actor=actor,
        actor_label=viewer_label(acting),
        interface=interface,
        target=storable(target[:2048]),
        detail=_storable_json(detail or {}),
        correlation_id=correlation_id,
        client_address=client_address,
    )


def storable(text: str) -> str:
    """PostgreSQL text and jsonb hold neither NUL nor lone surrogates: escape them, so that a
    hostile input can never make the audit row of its own refusal fail."""
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _storable_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {storable(str(k)): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_json(item) for item in value]
    if isinstance(value, str):
        return storable(value)
    return value
