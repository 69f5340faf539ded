from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.keys import do_create_api_key
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = "Create an API key for the MCP endpoint; the key is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="Username the key acts as.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--scopes", default="read", help="Comma-separated: read,scan")
        parser.add_argument(
            "--accounts", default="", help="Comma-separated account ids to narrow the key to."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"user: no user named {options['user']!r}")
        split = [part.strip() for part in options["scopes"].split(",") if part.strip()]
        accounts = [part.strip() for part in options["accounts"].split(",") if part.strip()]
        try:
            key, raw = do_create_api_key(
                user=user,
                name=options["name"],
                scopes=split,
                expires_in_days=options["expires_in_days"],
                account_ids=accounts,
                acting=Operator(),
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Created {key.prefix} for {user.get_username()}, scopes {','.join(key.scopes)}, "
            f"expires {key.expires_at:%Y-%m-%d}. The key is shown once:"
        )
        self.stdout.write(raw)
