"""The HTTP side of ``/mcp``: the gate in front of the SDK's Streamable HTTP app.

Before the SDK sees a request, the gate gives it a correlation id, works out the client address
(forwarded headers only from ``TRUSTED_PROXY_CIDRS``), checks Host and Origin (DNS rebinding),
authenticates the bearer credential (an API key or an OAuth access token issued for ``/mcp``),
answers ``GET`` (a server-sent event stream, which a stateless JSON endpoint never opens) with
405, and reads the body with a size cap and a JSON depth and key-count
check. Every refusal is a JSON-RPC error with the right status and an audit row; nothing is
trusted for coming from localhost.

The modules: :mod:`~mcp_endpoint.http.request_checks` (what is checked of the request itself),
:mod:`~mcp_endpoint.http.admission` (who is calling), :mod:`~mcp_endpoint.http.jsonrpc_errors`
(every JSON-RPC error answer), :mod:`~mcp_endpoint.http.refusal_audit` (every refusal's audit
row) and :mod:`~mcp_endpoint.http.gate` (the order they run in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_endpoint.http.gate import McpGate
from mcp_endpoint.oauth.metadata import MCP_PATH
from mcp_endpoint.server import build_server


@dataclass
class McpEndpoint:
    """The MCP ASGI app (gate + SDK app) and the SDK server whose lifespan it needs."""

    server: MCPServer[Any]
    app: ASGIApp


def build_endpoint() -> McpEndpoint:
    """A new endpoint: stateless Streamable HTTP with JSON responses, so any worker of any
    machine can answer any request; Host and Origin are checked by our gate (against Django's
    ``ALLOWED_HOSTS`` and ``MCP_ALLOWED_ORIGINS``), not by the SDK's localhost defaults."""
    server = build_server()
    starlette_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=True,
        stateless_http=True,
        max_request_body_size=settings.MCP_MAX_REQUEST_BYTES,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return McpEndpoint(server=server, app=McpGate(starlette_app))


class PathRouter:
    """Send ``/mcp`` (and below) to the MCP endpoint, the rest to Django: the one routing rule,
    used by the ASGI entry point and by the security checklist's probe of it."""

    def __init__(self, django_app: Any, mcp: McpEndpoint) -> None:
        self.django_app = django_app
        self.mcp = mcp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.mcp.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path == MCP_PATH or path.startswith(MCP_PATH + "/"):
            await self.mcp.app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


def mounted_beside(django_app: Any) -> PathRouter:
    """A new endpoint, mounted at ``/mcp`` beside ``django_app``."""
    return PathRouter(django_app, build_endpoint())
