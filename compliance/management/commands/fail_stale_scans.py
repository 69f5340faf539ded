from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from compliance.scans.watchdog import fail_stale_scans


class Command(BaseCommand):
    help = (
        "Deal with every scan still 'running' with no sign of life for longer than "
        "SCAN_STALE_AFTER_SECONDS (its worker was lost): a scan fanned out across workers has "
        "what it waits for queued again; any other is marked failed, audited as scan.failed. "
        "For cron: safe to run at any time, on any machine, several at once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        stale = fail_stale_scans()
        for scan_id in stale.retried:
            self.stdout.write(f"scan #{scan_id}: queued again (no sign of life)")
        for scan_id in stale.failed:
            self.stdout.write(f"scan #{scan_id}: marked failed (no sign of life)")
        self.stdout.write(
            f"{len(stale.failed)} stale scan(s) marked failed, {len(stale.retried)} queued again "
            f"(stale after {settings.SCAN_STALE_AFTER_SECONDS} s)"
        )
