"""The 403 handler: every ``PermissionDenied`` a page raises is audited, then refused as usual.

The dashboard's own refusals (``compliance.views.access.needs``) and the admin site's
(``finops_site.admin_site``) are audited where they are decided and render their page
themselves, so they never reach this handler and never make a second row. What does reach it
is Django's and the admin's own refusals: a change form posted without the change permission,
a delete without the delete permission, an incident-response page for someone who may not
respond. Those are security-relevant refusals too, and read in the log as
``request.forbidden``.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.defaults import permission_denied

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.writes import web_events


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: the refusal's audit row, then Django's 403 page (``403.html``)."""
    web_events.record_web_event(
        EventType.REQUEST_FORBIDDEN,
        request,
        target=request.path[:200],
        outcome=AuditEvent.Outcome.DENIED,
        detail={"method": request.method or "", "reason": str(exception)[:200]},
    )
    return permission_denied(request, exception)
