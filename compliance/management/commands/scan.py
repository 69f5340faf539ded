from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.models import Scan
from compliance.permissions.accounts import Operator
from compliance.reads.reports import breakdowns
from compliance.reads.resources import ResourceFilter
from compliance.reads.summary import compliance_summary
from compliance.scans import execute_scan
from compliance.writes.refusals import ActionError
from compliance.writes.scans import do_request_scan


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = (
        "Scan the registered AWS accounts now, in the foreground, with progress. Exit status 0 "
        "when the scan is complete or partial, 1 when it failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", action="append", default=[], metavar="ID")
        parser.add_argument("--regions", action="append", default=[], help="r1,r2,...")
        parser.add_argument("--types", action="append", default=[], help="ec2:instance,...")
        parser.add_argument("--json", action="store_true", help="Print one JSON object at the end.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scan = do_request_scan(
                account_ids=_split(options["account"]),
                regions=_split(options["regions"]),
                resource_types=_split(options["types"]),
                acting=Operator(),
            )
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        progress = _Progress(self.stderr.write, interactive=sys.stderr.isatty())
        try:
            scan = execute_scan(scan.pk, on_progress=progress.update)
        except KeyboardInterrupt:
            raise CommandError(f"scan #{scan.pk} interrupted") from None
        progress.done()
        if options["json"]:
            self.stdout.write(json.dumps(scan_result(scan)))
        else:
            self._describe(scan)
        if scan.status == Scan.Status.FAILED:
            raise CommandError(f"scan #{scan.pk} failed: {'; '.join(scan.errors)}", returncode=1)

    def _describe(self, scan: Scan) -> None:
        if scan.status == Scan.Status.FAILED:
            return
        style = self.style.SUCCESS if scan.status == Scan.Status.COMPLETE else self.style.WARNING
        score = scan.compliance_score
        self.stdout.write(
            style(
                f"Scan #{scan.pk} {scan.status}: {scan.total_resources} resources, "
                f"{scan.compliant_resources} compliant, {scan.violation_count} violations, "
                f"score {'n/a' if score is None else f'{score:.1%}'}."
            )
        )
        self.stdout.write(
            f"  AWS requests: {scan.aws_requests}, throttled: {scan.throttled_requests}."
        )
        for error in scan.errors:
            self.stdout.write(self.style.WARNING(f"  not read: {error}"))


def scan_result(scan: Scan) -> dict[str, Any]:
    """The ``--json`` object: totals over what this scan covered."""
    summary = (
        compliance_summary(
            Operator(),
            ResourceFilter(
                account_ids=scan.account_ids,
                regions=scan.regions,
                resource_types=scan.resource_types,
            ),
        )
        if scan.is_finished
        else None
    )
    score = scan.compliance_score
    return {
        "scan_id": scan.pk,
        "status": scan.status,
        "data_quality": scan.data_quality,
        "total_resources": scan.total_resources or 0,
        "compliant_resources": scan.compliant_resources or 0,
        "compliance_score": None if score is None else round(score, 4),
        "violations": scan.violation_count or 0,
        "by_type": breakdowns(summary.by_type) if summary else {},
        "by_region": breakdowns(summary.by_region) if summary else {},
        "errors": scan.errors,
        "aws_requests": scan.aws_requests,
        "throttled_requests": scan.throttled_requests,
    }


class _Progress:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, write: Any, *, interactive: bool) -> None:
        self.write = write
        self.interactive = interactive
        self.last = 0.0

    def update(self, scan: Scan) -> None:
        now = time.monotonic()
        if (
            not self.interactive
            and now - self.last < 5
            and scan.progress_done < scan.progress_total
        ):
            return
        self.last = now
        failed = sum(1 for o in scan.outcomes if o["status"] != "ok")
        line = (
            f"scan #{scan.pk}: {scan.progress_done}/{scan.progress_total} jobs, "
            f"{scan.resources_seen} resources" + (f", {failed} failed" if failed else "")
        )
        self.write(
            ("\r" + line) if self.interactive else line, ending="" if self.interactive else "\n"
        )

    def done(self) -> None:
        if self.interactive:
            self.write("")
