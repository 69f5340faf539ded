"""The CSRF failure view: Django's own 403 page, plus the audit row of the refusal."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.csrf import csrf_failure as django_csrf_failure

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.writes import web_events


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A forged or token-less POST is a security event: audit it, then refuse as Django does."""
    web_events.record_web_event(
        EventType.CSRF_FAILED,
        request,
        target=request.path,
        outcome=AuditEvent.Outcome.DENIED,
        detail={"reason": reason[:200], "method": request.method or ""},
    )
    return django_csrf_failure(request, reason)
