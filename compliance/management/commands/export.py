"""``manage.py export``: the violations CSV, a Cloud Custodian policy or the AWS tag policy."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.reads import exports
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.writes import exports as export_writes


class Command(BaseCommand):
    help = (
        "Print an export to stdout: violations-csv (--columns to choose them), custodian "
        "(report-only Cloud Custodian policies) or aws-org-policy (the active policy as an AWS "
        "Organizations tag policy)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("what", choices=["violations-csv", "custodian", "aws-org-policy"])
        parser.add_argument(
            "--columns",
            help=f"Comma-separated CSV columns, from: {', '.join(exports.CSV_COLUMNS)}.",
        )
        parser.add_argument("--account", action="append", default=[], metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        viewer = Operator()
        where = ResourceFilter(account_ids=options["account"])
        columns = None
        if options["columns"] is not None:
            columns = [c.strip() for c in options["columns"].split(",") if c.strip()]
        try:
            if options["what"] == "violations-csv":
                text = export_writes.do_export_violations_csv(viewer, where, columns)
            elif options["what"] == "custodian":
                text = export_writes.do_generate_custodian_policy(viewer, where)
            else:
                text = export_writes.do_export_aws_tag_policy(viewer)
        except (exports.ExportError, AccountNotVisible) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(text, ending="")
