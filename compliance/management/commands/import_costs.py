from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.core.billing import FORMATS, PROVIDER_FILTERS
from compliance.core.costs import to_cents
from compliance.core.untrusted import reveal
from compliance.permissions.accounts import Operator
from compliance.reads.money import cost_attribution
from compliance.writes.costs import do_import_costs
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Import a FOCUS 1.0+ or AWS CUR 2.0 bill (CSV, CSV.gz or Parquet; a local path or "
        "s3://bucket/key). Each billing period in it replaces the same period imported before. "
        "A malformed bill is refused with the row and column at fault and changes nothing. "
        "A FOCUS file with rows of other providers than AWS is refused unless "
        "--provider-filter aws; a legacy CUR export is refused (export CUR 2.0 or FOCUS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Path or s3://bucket/key.")
        parser.add_argument(
            "--format", choices=FORMATS, help="Default: detected from the column names."
        )
        parser.add_argument(
            "--provider-filter",
            choices=PROVIDER_FILTERS,
            help="Import only the AWS rows of a FOCUS file that holds other providers' rows too "
            "(Azure, Oracle, Google, ...); the summary says how many rows were left out.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["source"]

        def progress(rows: int) -> None:
            self.stderr.write(f"{rows:,} rows read")

        try:
            imports = do_import_costs(
                source,
                fmt=options["format"],
                provider_filter=options["provider_filter"],
                acting=Operator(),
                on_progress=progress,
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
        if imports.left_out:
            left_out = ", ".join(
                f"{name or 'unnamed'} {count:,}" for name, count in imports.left_out.items()
            )
            self.stdout.write(
                f"  Left out by --provider-filter aws: {sum(imports.left_out.values()):,} rows of "
                f"other providers ({left_out})."
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
        self._judged()

    def _judged(self) -> None:
        """How much of the latest period's spend is judged by a scan, from the bill's tags, and
        not at all (adding up to its total), and which tag keys the bill carries."""
        figures = cost_attribution(Operator())
        if figures.cost_source is None:
            return
        split, judged = figures.judged, figures.judged_by_bill
        self.stdout.write(
            f"  Spend judged ({figures.period_start:%Y-%m-%d}, every account): "
            f"by scan {to_cents(split.by_scan)}, by bill {to_cents(split.by_bill)}, "
            f"not at all {to_cents(split.not_judged)} {figures.currency}; "
            f"attribution gap with the bill's {to_cents(figures.attribution_gap_with_bill)}"
        )
        if not judged.bill_has_tags:
            self.stdout.write("  The bill carries no resource tags: nothing was judged from it.")
            return
        self.stdout.write(
            f"  Judged from the bill: {judged.resource_count:,} resource(s) not in the inventory, "
            f"{judged.noncompliant_count:,} non-compliant, gap {to_cents(judged.gap)}. "
            f"Tag keys on the bill: {', '.join(map(reveal, judged.keys_on_bill)) or 'none'}. "
            f"{judged.note}"
        )
