"""Audit rows of web requests that no write answers: sign-ins and their failures, CSRF
failures, requests refused before any view ran, the admin's refusals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions.accounts import Viewer
from compliance.web.network import request_client_address


def record_web_event(
    event_type: EventType,
    request: HttpRequest | None,
    *,
    acting: Viewer | None = None,
    target: str = "",
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row for a dashboard, sign-in or admin request, in its own transaction (a
    savepoint inside one already open): interface ``web``, the request's client address, and
    by default the request's user (anonymous before authentication) as the actor."""
    if acting is None:
        acting = getattr(request, "user", None) or AnonymousUser()
    with transaction.atomic():
        audit.record(
            event_type,
            acting=acting,
            target=target,
            outcome=outcome,
            detail=detail,
            interface="web",
            client_address=request_client_address(request) if request is not None else None,
        )
