"""Request checks that every dashboard page would otherwise repeat."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.writes import web_events


class RefuseNulCharacters:
    """A NUL character in the path, the query string or a form field is refused with a 400,
    and audited (``request.refused``).

    No legitimate input holds one, PostgreSQL refuses text containing it ("cannot contain NUL
    characters"), and letting it reach a query would turn a bad input into a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for query in (request.GET, request.POST if request.method == "POST" else None)
            if query is not None
            for key, values in query.lists()
        ):
            web_events.record_web_event(
                EventType.REQUEST_REFUSED,
                request,
                target=request.path,
                outcome=AuditEvent.Outcome.DENIED,
                detail={"reason": "NUL character in the request", "method": request.method},
            )
            return HttpResponseBadRequest(
                "Bad request: NUL characters are not accepted.", content_type="text/plain"
            )
        return self.get_response(request)
