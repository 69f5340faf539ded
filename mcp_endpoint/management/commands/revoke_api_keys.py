from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.keys import do_revoke_api_keys
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = "Revoke MCP API keys at once (incident response): every key, a user's, or one."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every key.")
        which.add_argument("--user", help="Every key of this username.")
        which.add_argument("--prefix", help="The key with this prefix (ftc_xxxxxxxx).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            revoked = do_revoke_api_keys(
                revoke_all=options["all"],
                username=options["user"],
                prefix=options["prefix"],
                acting=Operator(),
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Revoked {len(revoked)} key(s)")
        for prefix in revoked:
            self.stdout.write(f"  {prefix}")
