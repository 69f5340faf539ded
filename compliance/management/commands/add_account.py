from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_add_account
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Register an AWS account to scan (or update its registration). With --role-arn the "
        "role is assumed with STS; otherwise the default AWS credentials are used."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account-id", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--role-arn", default="")
        parser.add_argument("--external-id", default="")
        parser.add_argument(
            "--regions", default="", help="Comma-separated; default: every enabled region."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        regions = [r.strip() for r in options["regions"].split(",") if r.strip()]
        try:
            account = do_add_account(
                account_id=options["account_id"].strip(),
                name=options["name"].strip(),
                role_arn=options["role_arn"].strip(),
                external_id=options["external_id"],
                regions=regions,
                acting=Operator(),
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        where = ", ".join(account.regions) if account.regions else "every enabled region"
        how = f"assuming {account.role_arn}" if account.role_arn else "default credentials"
        self.stdout.write(self.style.SUCCESS(f"Registered {account} ({how}; {where})."))
