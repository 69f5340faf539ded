from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.reads.reports import RENDERERS
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.writes.exports import do_generate_report


class Command(BaseCommand):
    help = "Print the compliance report of the last finished scan (for cron and CI)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=sorted(RENDERERS), default="json")
        parser.add_argument("--account", action="append", default=[], metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = do_generate_report(Operator(), ResourceFilter(account_ids=options["account"]))
        except AccountNotVisible as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(RENDERERS[options["format"]](report), ending="")
        if options["format"] == "json":
            self.stdout.write("")
