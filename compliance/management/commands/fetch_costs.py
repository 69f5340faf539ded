from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.core.costs import to_cents
from compliance.permissions.accounts import Operator
from compliance.writes.costs import MAX_FETCH_MONTHS, do_fetch_costs
from compliance.writes.refusals import ActionError


class Command(BaseCommand):
    help = (
        "Pull the last N complete months of amortised cost from Cost Explorer for every enabled "
        "account: by service and region, and by each required tag key. Use where no bill export "
        "is loaded; per-resource figures are then estimated (see docs/costs.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months", type=int, default=3, help=f"1 to {MAX_FETCH_MONTHS} (default 3)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            figures = do_fetch_costs(options["months"], acting=Operator())
        except ActionError as exc:
            raise CommandError(f"nothing stored: {exc}") from None
        totals: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        for figure in figures:
            if figure.dimension == "service":
                month = f"{figure.period_start:%Y-%m}"
                totals[(month, figure.account_id, figure.currency)] += figure.amount
        self.stdout.write(self.style.SUCCESS(f"Stored {len(figures)} Cost Explorer figures."))
        for (month, account_id, currency), total in sorted(totals.items()):
            self.stdout.write(f"  {month} {account_id}: {to_cents(total)} {currency}")
