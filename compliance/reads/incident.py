"""Incident response, as read: whether the MCP endpoint is in lockdown, and the audit log for
export.

Lockdown refuses every MCP call (HTTP and stdio) while the dashboard and admin keep working,
so admins can investigate while assistants are cut off. It is on when the ``MCP_LOCKDOWN``
setting says so (for when the database itself is suspect) or when the database flag is set
(one click in the admin, or ``manage.py lockdown on``: ``compliance.writes.lockdown``). The
flag is cached per process for ``LOCKDOWN_CACHE_SECONDS``, so turning it on reaches every web
node within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from compliance.models import AuditEvent, LockdownState

LOCKDOWN_CACHE_SECONDS = 3.0
LOCKDOWN_MESSAGE = "service in lockdown: the MCP endpoint is refusing all calls"

_cache_lock = threading.Lock()
_cached: tuple[float, bool] | None = None


def forget_cached_lockdown() -> None:
    global _cached
    with _cache_lock:
        _cached = None


def mcp_locked_down() -> bool:
    """Whether MCP calls must be refused now.

    When the flag cannot be read (the database failing), the error propagates: the call is
    refused all the same, as "database unavailable" (see ``mcp_endpoint.http``), rather than
    with a lockdown that nobody set."""
    global _cached
    if settings.MCP_LOCKDOWN:
        return True
    now = time.monotonic()
    with _cache_lock:
        if _cached is not None and now - _cached[0] < LOCKDOWN_CACHE_SECONDS:
            return _cached[1]
    enabled = LockdownState.objects.filter(pk=1, enabled=True).exists()
    with _cache_lock:
        _cached = (now, enabled)
    return enabled


def lockdown_state() -> LockdownState:
    return LockdownState.objects.filter(pk=1).first() or LockdownState(pk=1)


# --- Audit log export -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    key_prefix: str | None = None
    correlation_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name in ("since", "until", "user", "key_prefix", "correlation_id")
            if (value := getattr(self, name)) is not None
        }


def audit_events(filters: AuditFilter) -> QuerySet[AuditEvent]:
    """Events matching every given filter, oldest first. ``since`` is inclusive, ``until``
    exclusive, so consecutive windows never export an event twice. A key prefix matches the
    calls made with the key and the rows about the key (created, revoked)."""
    events = AuditEvent.objects.all()
    if filters.since is not None:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(occurred_at__lt=filters.until)
    if filters.user is not None:
        events = events.filter(actor_label=filters.user)
    if filters.key_prefix is not None:
        events = events.filter(
            Q(detail__key_prefix=filters.key_prefix) | Q(target=filters.key_prefix)
        )
    if filters.correlation_id is not None:
        events = events.filter(correlation_id=filters.correlation_id)
    return events.order_by("occurred_at", "id")


def event_as_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "event_type": event.event_type,
        "outcome": event.outcome,
        "actor": event.actor_label,
        "actor_id": event.actor_id,
        "interface": event.interface,
        "target": event.target,
        "correlation_id": event.correlation_id,
        "client_address": event.client_address,
        "detail": event.detail,
    }


def iter_audit_events(filters: AuditFilter, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Streamed from the database in chunks: the export never holds the log in memory."""
    for event in audit_events(filters).iterator(chunk_size=chunk_size):
        yield event_as_dict(event)
