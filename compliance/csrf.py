"""The CSRF failure view: Django's own 403 page, plus the audit row of the refusal."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.csrf import csrf_failure as django_csrf_failure

from compliance import audit
from compliance.models import AuditEvent


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A forged or token-less POST is a security event: audit it, then refuse as Django does."""
    with transaction.atomic():
        audit.record(
            "csrf.failed",
            acting=getattr(request, "user", None) or AnonymousUser(),
            target=request.path[:2048],
            outcome=AuditEvent.Outcome.DENIED,
            interface="web",
            detail={"reason": reason[:200], "method": request.method or ""},
        )
    return django_csrf_failure(request, reason)
