"""The well-known documents of OAuth for ``/mcp``, and the provider's URLs behind a switch.

allauth's provider is in ``INSTALLED_APPS`` for its models; its URLs are served here, each
answering 404 while no signing key is configured, so an install without one has no
authorization server at all (checked per request: the demo configures its key at start).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import wraps
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.idp.oidc import views as provider_views
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.http import require_GET

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.writes import web_events
from mcp_endpoint.oauth import client_requests, consent, metadata
from mcp_endpoint.templatetags.oauth_pages import declared_status

View = Callable[..., HttpResponse]
#: The provider's endpoints a client authenticates to (allauth's URL names).
CLIENT_AUTHENTICATED = frozenset({"token", "revoke", "introspect"})
#: The provider's error page (overridden in templates/ to answer with a 400).
ERROR_PAGE = "idp/oidc/error.html"
#: The provider's endpoints whose refusals are audited (allauth's URL names).
AUDITED = CLIENT_AUTHENTICATED | {
    "authorization",
    "client_registration",
    "device_code",
    "userinfo",
}
#: Refusals worth a row: bad requests, failed client authentication, rate limits. Not 404
#: (the server is off) or 405 (a method the endpoint never takes).
AUDITED_STATUSES = frozenset({400, 401, 403, 429})


@require_GET
def protected_resource_metadata(request: HttpRequest) -> JsonResponse:
    """RFC 9728: where an MCP client learns which authorization server issues tokens for
    ``/mcp``. Public by design (no data, no credential), so any origin may read it."""
    response = JsonResponse(metadata.protected_resource_metadata(request))
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "max-age=3600"
    return response


def when_enabled(view: View) -> View:
    """``view`` while a signing key is configured, 404 otherwise."""

    @wraps(view)
    def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not metadata.authorization_server_enabled():
            raise Http404("the authorization server is not configured")
        return view(request, *args, **kwargs)

    return gated


def declared_statuses(view: View) -> View:
    """``view``, answering an error page with the status its template declares (allauth
    renders them with 200; see templatetags/oauth_pages.py)."""

    @wraps(view)
    def answered(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        status = declared_status(request)
        if status is not None and response.status_code == 200:
            response.status_code = status
        return response

    return answered


def audited(endpoint: str, view: View) -> View:
    """``view``, with each refusal audited (``auth.oauth_refused``): failed client
    authentication, a wrong, expired or replayed code or refresh token, a refused
    registration or authorization request. The row names the endpoint, the OAuth error and the
    client ID as sent; never a secret, code or token."""

    @wraps(view)
    def recorded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        status = response.status_code
        if status in AUDITED_STATUSES and _first_of_its_flood(request, endpoint, status):
            web_events.record_web_event(
                EventType.OAUTH_REFUSED,
                request,
                target=endpoint,
                outcome=AuditEvent.Outcome.DENIED,
                detail={
                    "status": response.status_code,
                    "error": _oauth_error(response),
                    "client_id": _printable(
                        request.POST.get("client_id") or request.GET.get("client_id") or ""
                    ),
                },
            )
        return response

    return recorded


#: A client held back by a rate limit (429) is audited once a minute per endpoint, not once a
#: request: the limit is there because the requests are many, and a row each would let anyone
#: grow the append-only log as fast as they can send.
RATE_LIMITED_AUDIT_SECONDS = 60


def _first_of_its_flood(request: HttpRequest, endpoint: str, status: int) -> bool:
    if status != HTTPStatus.TOO_MANY_REQUESTS:
        return True
    client = get_account_adapter(request).get_client_ip(request)
    return bool(cache.add(f"oauth-429:{endpoint}:{client}", 1, RATE_LIMITED_AUDIT_SECONDS))


def _oauth_error(response: HttpResponse) -> str:
    """The ``error`` code of a JSON answer (RFC 6749 5.2), ``error_page`` for a page."""
    if not response.get("Content-Type", "").startswith("application/json"):
        return "error_page"
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return "unreadable"
    return _printable(error, 64) if isinstance(error, str) else "unreadable"


def _printable(value: str, limit: int = 200) -> str:
    """``value`` as an audit row may keep it: printable characters only, bounded."""
    return "".join(character for character in value[: limit * 2] if character.isprintable())[:limit]


def authorization_request(view: View) -> View:
    """The authorization endpoint, with ``resource`` read as a URI and PKCE held to S256."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client_requests.normalize_resources(request)
        if request.method == "GET" and (refusal := client_requests.pkce_refusal(request)):
            # Answered here, before the redirect URI is checked: never sent to an unchecked one.
            return render(request, ERROR_PAGE, {"error": {"description": refusal}}, status=400)
        return view(request, *args, **kwargs)

    return checked


def client_authenticated(view: View) -> View:
    """The token, revocation and introspection endpoints, with the client's Basic
    credentials form-decoded (RFC 6749 2.3.1) and ``resource`` read as a URI."""

    @wraps(view)
    def read(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            if refusal := client_requests.nul_refusal(request):
                return JsonResponse(
                    {"error": "invalid_request", "error_description": refusal}, status=400
                )
            refused = client_requests.read_basic_credentials(request)
            if refused is not None:
                return refused
            client_requests.normalize_resources(request)
        return view(request, *args, **kwargs)

    return read


def registration_request(view: View) -> View:
    """Dynamic client registration, refusing a body too deeply nested to read.

    allauth reads the body with ``json.loads``, which answers a body nested some thousand
    levels deep with a ``RecursionError`` (a 500) instead of a refusal; the registration
    endpoint is open to anyone, so it is read once here first.
    """

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            try:
                json.loads(request.body)
            except RecursionError:
                return JsonResponse(
                    {
                        "error": "invalid_client_metadata",
                        "error_description": "the registration is nested too deeply to read",
                    },
                    status=400,
                )
            except ValueError:
                pass  # not JSON: allauth refuses it with its own message
        return view(request, *args, **kwargs)

    return checked


def consent_page(view: View) -> View:
    """The consent page may submit to the client's redirect URI.

    Granting posts the form here, and the answer redirects to the client's ``redirect_uri``;
    browsers hold that redirect to the page's CSP ``form-action``, which is ``'self'``. So the
    page allows the origin of the ``redirect_uri`` it was asked for (allauth has checked it
    against the client's registered URIs before it renders the form).
    """

    @wraps(view)
    def page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        origin = _form_action_origin(request.GET.get("redirect_uri", ""))
        if response.status_code == 200 and origin:
            setattr(response, "_csp_update", {"form-action": [origin]})  # noqa: B010
        return response

    return page


def _form_action_origin(redirect_uri: str) -> str | None:
    """The CSP source of ``redirect_uri``, rebuilt from its parsed parts so that nothing of
    the request's own text (a ``;`` or a space would start another directive) reaches the
    header; ``None`` for anything that does not read as a plain scheme, host and port."""
    try:
        target = urlsplit(redirect_uri)
        port = target.port
    except ValueError:
        return None
    scheme = target.scheme.lower()
    if not _SCHEME.fullmatch(scheme):
        return None
    if scheme not in {"http", "https"}:
        return f"{scheme}:"
    host = target.hostname or ""
    if not _HOST.fullmatch(host):
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:]+")


def _gated(patterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    gated: list[URLPattern | URLResolver] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            gated.append(
                URLResolver(
                    entry.pattern,
                    _gated(entry.url_patterns),
                    entry.default_kwargs,
                    entry.app_name,
                    entry.namespace,
                )
            )
        else:
            view = entry.callback
            if entry.name == "authorization":
                # The error page's status first: only the consent form itself (200) may name
                # the client's origin in its form-action.
                view = consent_page(declared_statuses(authorization_request(consent.authorization)))
            else:
                if entry.name in CLIENT_AUTHENTICATED:
                    view = client_authenticated(view)
                elif entry.name == "client_registration":
                    view = registration_request(view)
                view = declared_statuses(view)
            if entry.name in AUDITED:
                view = audited(entry.name, view)
            gated.append(
                URLPattern(entry.pattern, when_enabled(view), entry.default_args, entry.name)
            )
    return gated


def urlpatterns() -> list[URLPattern | URLResolver]:
    """The resource metadata, and allauth's provider under its own URL names (``idp:oidc:*``):
    ``/.well-known/openid-configuration``, ``/.well-known/jwks.json``, ``/identity/o/...``.

    The provider's metadata is also served at RFC 8414's ``/.well-known/oauth-authorization-
    server``, the first place an MCP client looks for it.
    """
    from allauth.idp import urls as provider_urls

    return [
        path(
            metadata.METADATA_PATH.lstrip("/"),
            protected_resource_metadata,
            name="oauth-protected-resource",
        ),
        path(
            ".well-known/oauth-authorization-server",
            when_enabled(provider_views.configuration),
            name="oauth-authorization-server",
        ),
        path("", include((_gated(provider_urls.urlpatterns), "idp"), namespace="idp")),
    ]
