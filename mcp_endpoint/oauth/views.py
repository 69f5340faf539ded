"""The well-known documents of OAuth for ``/mcp``, and the provider's URLs behind a switch.

allauth's provider is in ``INSTALLED_APPS`` for its models; its URLs are served here, each
answering 404 while no signing key is configured, so an install without one has no
authorization server at all (checked per request: the demo configures its key at start).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from allauth.idp.oidc import views as provider_views
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.views.decorators.http import require_GET

from mcp_endpoint.oauth import consent, metadata

View = Callable[..., HttpResponse]


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
        target = urlsplit(request.GET.get("redirect_uri", ""))
        if response.status_code == 200 and target.scheme:
            origin = (
                f"{target.scheme}://{target.netloc}"
                if target.scheme in {"http", "https"}
                else f"{target.scheme}:"
            )
            setattr(response, "_csp_update", {"form-action": [origin]})  # noqa: B010
        return response

    return page


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
                view = consent_page(consent.authorization)
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
