from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.permissions.accounts import Operator
from compliance.writes.refusals import ActionError
from compliance.writes.retention import Batch, PruneCounts, do_prune


class Command(BaseCommand):
    help = (
        "Delete scans older than RETENTION_SCAN_DAYS (with their snapshots, tag changes and "
        "staging rows; never the latest finished or complete scan, nor one current data refers "
        "to) and audit events older than RETENTION_AUDIT_DAYS, in batches of "
        "RETENTION_BATCH_SIZE rows per transaction. Safe to stop and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows per transaction (default: setting)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"] or settings.RETENTION_BATCH_SIZE
        try:
            counts = do_prune(
                scan_days=settings.RETENTION_SCAN_DAYS,
                audit_days=settings.RETENTION_AUDIT_DAYS,
                batch_size=batch_size,
                dry_run=options["dry_run"],
                acting=Operator(),
                on_batch=self._progress,
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self._describe(counts, dry_run=options["dry_run"])

    def _progress(self, batch: Batch) -> None:
        label = batch.table.replace("_", " ")
        self.stdout.write(f"  {label}: deleted {batch.deleted} ({batch.total} so far)")

    def _describe(self, counts: PruneCounts, *, dry_run: bool) -> None:
        figures = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.as_dict().items())
        kept = ", ".join(f"#{i}" for i in counts.kept_scans) or "none yet"
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Would delete' if dry_run else 'Deleted'} {figures}. Kept: scans of the last "
                f"{settings.RETENTION_SCAN_DAYS} days, audit events of the last "
                f"{settings.RETENTION_AUDIT_DAYS} days, and whatever their age the latest scans "
                f"({kept}) and scans current resources or violations refer to."
            )
        )
