"""WSGI entry point (the ASGI one in asgi.py also serves the MCP endpoint)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")

application = get_wsgi_application()
