from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from compliance.permissions.accounts import Operator
from compliance.reads.incident import AuditFilter, iter_audit_events
from compliance.writes.lockdown import record_export


def _moment(option: str, text: str | None) -> datetime | None:
    """ISO 8601 date or date-time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--{option}: {text!r} is not an ISO 8601 date or date-time")
    return timezone.make_aware(moment, UTC) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Export the audit log as JSON Lines (one event per line, oldest first), streamed; "
        "filters combine. --since is inclusive, --until exclusive."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="ISO 8601 date or date-time (UTC if no zone).")
        parser.add_argument("--until", help="ISO 8601 date or date-time (UTC if no zone).")
        parser.add_argument("--user", help="Actor username (exact).")
        parser.add_argument("--key-prefix", help="API key prefix, ftc_xxxxxxxx.")
        parser.add_argument("--correlation-id", help="Correlation id (exact).")
        parser.add_argument("--output", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = AuditFilter(
            since=_moment("since", options["since"]),
            until=_moment("until", options["until"]),
            user=options["user"],
            key_prefix=options["key_prefix"],
            correlation_id=options["correlation_id"],
        )
        if filters.since and filters.until and filters.since >= filters.until:
            raise CommandError("--since must be before --until")
        output = options["output"]
        if output:
            try:
                with Path(output).open("x", encoding="utf-8") as stream:
                    count = self._write(stream, filters)
            except FileExistsError:
                raise CommandError(f"--output: {output} exists; choose a new file") from None
            except OSError as exc:
                raise CommandError(f"--output: cannot write {output} ({exc.strerror})") from None
            self.stderr.write(f"Exported {count} event(s) to {output}")
        else:
            count = self._write(self.stdout, filters)
        record_export(filters, count, acting=Operator(), destination=output or "stdout")

    @staticmethod
    def _write(stream: TextIO | Any, filters: AuditFilter) -> int:
        count = 0
        for event in iter_audit_events(filters):
            stream.write(json.dumps(event, default=str, sort_keys=True) + "\n")
            count += 1
        return count
