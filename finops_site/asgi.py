"""ASGI entry point: Django for every path (the MCP endpoint is mounted beside it at /mcp)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")

application = get_asgi_application()
