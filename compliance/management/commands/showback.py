"""``manage.py showback``: who owns one month's spend, by the values of one tag key.

The fields are those of the MCP tool ``get_spend_by_tag`` (every row at once, no paging), read
by the same reader (:func:`compliance.reads.showback.spend_by_tag`), so both give the same
numbers. Tag values are text from AWS: the Markdown escapes them, the CSV keeps a spreadsheet
from reading them as formulas; the JSON carries them as stored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import reads
from compliance.core.untrusted import markdown_text
from compliance.permissions.accounts import Operator
from compliance.reads.reports import csv_safe

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_ACCOUNT = re.compile(r"^\d{12}$")
#: The amounts after the rows, in the order every format lists them.
BUCKET_FIELDS = (
    "untagged_spend",
    "invalid_spend",
    "unattributable_spend",
    "unmatched_resource_spend",
    "total_spend",
)
CSV_COLUMNS = (
    "tag_key",
    "billing_period_start",
    "currency",
    "field",
    "value",
    "spend",
    "resource_count",
    "valid",
)


def render_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, indent=2, ensure_ascii=False) + "\n"


def render_csv(fields: dict[str, Any]) -> str:
    """One line per value (``field`` = ``rows``), then one per bucket (``field`` = its name)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    common = {
        "tag_key": csv_safe(fields["tag_key"]),
        "billing_period_start": fields["billing_period_start"] or "",
        "currency": fields["currency"] or "",
    }
    for row in fields["rows"]:
        writer.writerow(
            {
                **common,
                "field": "rows",
                "value": csv_safe(row["value"]),
                "spend": row["spend"],
                "resource_count": row["resource_count"],
                "valid": "true" if row["valid"] else "false",
            }
        )
    counts = {"untagged_spend": "untagged_count", "invalid_spend": "invalid_count"}
    for name in BUCKET_FIELDS:
        count = counts.get(name)
        writer.writerow(
            {
                **common,
                "field": name,
                "value": "",
                "spend": fields[name] or "",
                "resource_count": fields[count] if count else "",
                "valid": "",
            }
        )
    return out.getvalue()


def render_markdown(fields: dict[str, Any]) -> str:
    key = markdown_text(fields["tag_key"])
    lines = [f"# Showback by {key}", ""]
    if fields["billing_period_start"] is None:
        lines += ["No bill is loaded.", ""]
        return "\n".join(lines)
    currency = markdown_text(fields["currency"] or "")
    lines += [
        f"Billing period starting {fields['billing_period_start']}, "
        f"{currency} ({fields['cost_source']}).",
        "",
        "| Value | Spend | Resources | Valid |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in fields["rows"]:
        valid = "yes" if row["valid"] else "no"
        lines.append(
            f"| {markdown_text(row['value'])} | {row['spend']} | {row['resource_count']} "
            f"| {valid} |"
        )
    labels = {
        "untagged_spend": ("Untagged (key absent)", "untagged_count"),
        "invalid_spend": ("Invalid value", "invalid_count"),
        "unattributable_spend": ("Unattributable (no resource)", None),
        "unmatched_resource_spend": ("Unmatched resources (not in the inventory)", None),
        "total_spend": ("**Total**", None),
    }
    lines += ["", "| Bucket | Spend | Resources |", "| --- | ---: | ---: |"]
    for name in BUCKET_FIELDS:
        label, count = labels[name]
        lines.append(f"| {label} | {fields[name]} | {fields[count] if count else ''} |")
    lines.append("")
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
}


def _period(text: str | None) -> date | None:
    if text is None:
        return None
    found = _MONTH.match(text)
    if found is None:
        raise CommandError(f"--period: expected YYYY-MM, got {text!r}")
    return date(int(found.group(1)), int(found.group(2)), 1)


class Command(BaseCommand):
    help = (
        "Print the spend of one billing period per value of a tag key, with the spend no value "
        "owns (untagged, invalid, unattributable, unmatched)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tag", required=True, metavar="KEY", help="tag key, exact")
        parser.add_argument("--period", metavar="YYYY-MM", help="default: the latest loaded")
        parser.add_argument("--format", choices=sorted(RENDERERS), default="json")
        parser.add_argument("--account", action="append", default=[], metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        period = _period(options["period"])
        accounts: list[str] = options["account"]
        bad = [a for a in accounts if not _ACCOUNT.match(a)]
        if bad:
            raise CommandError(f"--account: expected a 12-digit account id, got {bad[0]!r}")
        try:
            showback = reads.spend_by_tag(
                Operator(), options["tag"], period=period, accounts=accounts
            )
        except (reads.AccountNotVisible, reads.ShowbackError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(RENDERERS[options["format"]](reads.showback_fields(showback)), ending="")
