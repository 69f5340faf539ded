from __future__ import annotations

from typing import Any

import anyio
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.reads.incident import LOCKDOWN_MESSAGE, mcp_locked_down
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import build_server


class Command(BaseCommand):
    help = (
        "Serve the MCP tools over stdin/stdout for a local client (Claude Desktop, Claude "
        "Code), as the given user: the same tools, guards and audit as /mcp."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Username the session acts as.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"user: no active user named {options['user']!r}")
        if mcp_locked_down():
            raise CommandError(LOCKDOWN_MESSAGE)
        # stdout carries the protocol: logs go to stderr (the LOGGING handlers' default).
        server = build_server(local_caller=Caller.for_local_user(user))
        anyio.run(server.run_stdio_async)
