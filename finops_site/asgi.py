"""ASGI entry point: the MCP endpoint at ``/mcp``, Django for every other path.

Served by ``gunicorn -c gunicorn.conf.py finops_site.asgi:application -k
uvicorn_worker.UvicornWorker``. The MCP app is stateless (JSON responses, no sessions), so any
worker on any machine answers any call; its SDK session manager still has a lifespan, run on the
ASGI ``lifespan`` events (Django's own handler does not speak them).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")

django_application = get_asgi_application()  # sets Django up: import the MCP side after it

from compliance.web.network import ForwardedHeadersFromTrustedProxiesOnly  # noqa: E402
from mcp_endpoint.http import PathRouter, mounted_beside  # noqa: E402


def build_application() -> PathRouter:
    return mounted_beside(django_application)


# Forwarded headers count only from TRUSTED_PROXY_CIDRS, for Django and /mcp alike.
application = ForwardedHeadersFromTrustedProxiesOnly(build_application())
