"""ASGI entry point: the MCP endpoint at ``/mcp``, Django for every other path.

Served by ``gunicorn finops_site.asgi:application -k uvicorn_worker.UvicornWorker``. The MCP
app is stateless (JSON responses, no sessions), so any worker on any machine answers any call;
its SDK session manager still has a lifespan, run on the ASGI ``lifespan`` events (Django's own
handler does not speak them).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application
from starlette.types import Receive, Scope, Send

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")

django_application = get_asgi_application()  # sets Django up: import the MCP side after it

from mcp_endpoint.http import McpEndpoint, build_endpoint  # noqa: E402

MCP_PATH = "/mcp"


class PathRouter:
    """Send ``/mcp`` (and below) to the MCP endpoint, the rest to Django."""

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


def build_application() -> PathRouter:
    return PathRouter(django_application, build_endpoint())


application = build_application()
