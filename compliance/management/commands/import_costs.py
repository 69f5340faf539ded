from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.core.billing import FORMATS
from compliance.core.costs import to_cents
from compliance.permissions.accounts import Operator
from compliance.writes.costs import do_import_costs
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Import a FOCUS 1.0+ or AWS CUR 2.0 bill (CSV, CSV.gz or Parquet; a local path or "
        "s3://bucket/key). Each billing period in it replaces the same period imported before. "
        "A malformed bill is refused with the row and column at fault and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Path or s3://bucket/key.")
        parser.add_argument(
            "--format", choices=FORMATS, help="Default: detected from the column names."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"]

        def progress(rows: int) -> None:
            self.stderr.write(f"{rows:,} rows read")

        try:
            imports = do_import_costs(
                source, fmt=options["format"], acting=Operator(), on_progress=progress
            )
        except ActionError as exc:
            raise CommandError(f"bill refused, the stored costs are unchanged: {exc}") from None
        rows = sum(imported.row_count for imported in imports)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {imports[0].get_source_format_display()} bill {source}: {rows:,} rows, "
                f"{len(imports)} billing period(s)."
            )
        )
        for imported in imports:
            currency = imported.currency
            self.stdout.write(
                f"  {imported.billing_period_start:%Y-%m-%d} to "
                f"{imported.billing_period_end:%Y-%m-%d}: {imported.row_count:,} rows, "
                f"{len(imported.account_ids)} account(s), "
                f"cost {to_cents(imported.effective_total)} {currency} "
                f"(billed {to_cents(imported.billed_total)} {currency})"
            )
            for category, total in imported.totals_by_category.items():
                self.stdout.write(f"    {category:<11} {to_cents(Decimal(total)):>16} {currency}")
