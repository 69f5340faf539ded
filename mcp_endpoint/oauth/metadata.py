"""Where the MCP resource and its authorization server are, and the resource's metadata.

Every URL is built from the request the way Django builds absolute URLs (Host checked against
``ALLOWED_HOSTS``, the scheme from the connection or ``SECURE_PROXY_SSL_HEADER``), for the
Django views and for the ``/mcp`` gate alike, so the issuer in the provider's metadata, the
``resource`` in ours and the audience a token must carry always agree.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from starlette.types import Scope

from mcp_endpoint.models import ApiKey

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH
#: The OAuth scopes of the MCP tools: the same names, and the same meaning, as API key scopes.
MCP_SCOPES: tuple[str, ...] = ApiKey.ALL_SCOPES


def authorization_server_enabled() -> bool:
    """True when a signing key is configured (read at call time, as allauth reads it)."""
    return bool(
        getattr(settings, "IDP_OIDC_PRIVATE_KEY", "")
        or getattr(settings, "IDP_OIDC_PRIVATE_KEYS", [])
    )


def issuer_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def resource_url(request: HttpRequest) -> str:
    """The canonical URI of the MCP endpoint (RFC 8707 ``resource``, RFC 9728 ``resource``)."""
    return request.build_absolute_uri(MCP_PATH)


def metadata_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(METADATA_PATH)


def request_for_scope(scope: Scope) -> HttpRequest:
    """A Django request for an ASGI scope (no body), to build URLs exactly as Django does."""
    return ASGIRequest(dict(scope), io.BytesIO())


def protected_resource_metadata(request: HttpRequest) -> dict[str, Any]:
    """The RFC 9728 document of ``/mcp``. Without a signing key no authorization server is
    named: the endpoint then takes API keys only, and the document says so by omission."""
    document: dict[str, Any] = {"resource": resource_url(request)}
    if authorization_server_enabled():
        document["authorization_servers"] = [issuer_url(request)]
    document.update(
        {
            "scopes_supported": list(MCP_SCOPES),
            "bearer_methods_supported": ["header"],
            "resource_name": "FinOps tag compliance (MCP)",
        }
    )
    return document
