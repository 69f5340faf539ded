from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.reads.incident import LOCKDOWN_CACHE_SECONDS, lockdown_state
from compliance.writes.lockdown import do_set_lockdown
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Incident response: refuse every MCP call (on), allow them again (off), or show the "
        "switch (status). The dashboard and admin keep working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("state", choices=["on", "off", "status"])
        parser.add_argument("--reason", default="", help="Why (kept in the audit log).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["state"] == "status":
            state = lockdown_state()
            self.stdout.write(f"database flag: {'on' if state.enabled else 'off'}")
            if state.changed_at:
                self.stdout.write(
                    f"  changed {state.changed_at:%Y-%m-%d %H:%M:%S} by {state.changed_by}"
                )
            self.stdout.write(f"MCP_LOCKDOWN setting: {'on' if settings.MCP_LOCKDOWN else 'off'}")
            return
        enabled = options["state"] == "on"
        try:
            do_set_lockdown(enabled, reason=options["reason"], acting=Operator())
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        if enabled:
            self.stdout.write(
                "Lockdown ON: every web node refuses MCP calls within "
                f"{LOCKDOWN_CACHE_SECONDS:g} s."
            )
        else:
            self.stdout.write("Lockdown OFF (database flag).")
            if settings.MCP_LOCKDOWN:
                self.stdout.write(
                    "MCP_LOCKDOWN is still set in the environment: calls stay refused."
                )
