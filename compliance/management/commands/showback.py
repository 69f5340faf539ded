"""``manage.py showback``: who owns one month's spend, by the values of one tag key.

The fields are those of the MCP tool ``get_spend_by_tag`` (every row at once, no paging), read
by the same reader (:func:`compliance.reads.showback.spend_by_tag`), so both give the same
numbers. Tag values are text from AWS: the Markdown escapes them, the CSV keeps a spreadsheet
from reading them as formulas; the JSON carries them as stored. Rule names are admin text,
escaped and defused the same way.

Beside the spend as tagged, every format gives it as allocated: each value's
``allocated_spend`` (its tags and what the allocation rules give it) and ``shared_spend``
(its share of the shared costs, never in the other two), then what the rules leave without a
value (``as_allocated``).
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
    "allocated_spend",
    "allocated_resource_count",
    "shared_spend",
)
#: What the rules leave without a value, in the order every format lists them.
AS_ALLOCATED_FIELDS = (
    "untagged_spend",
    "invalid_spend",
    "unattributable_spend",
    "unmatched_resource_spend",
    "shared_spend",
)


def render_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, indent=2, ensure_ascii=False) + "\n"


def render_csv(fields: dict[str, Any]) -> str:
    """One line per value (``field`` = ``rows``), then one per bucket (``field`` = its name),
    then one per bucket after the rules (``field`` = ``as_allocated.<name>``)."""
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
                "allocated_spend": row["allocated_spend"] or "",
                "allocated_resource_count": row["allocated_resource_count"],
                "shared_spend": row["shared_spend"] or "",
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
    allocated = fields["as_allocated"] or {}
    for name in AS_ALLOCATED_FIELDS:
        writer.writerow(
            {**common, "field": f"as_allocated.{name}", "spend": allocated.get(name) or ""}
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
        "| Value | Spend | Resources | Valid | As allocated | Shared | Rules |",
        "| --- | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for row in fields["rows"]:
        valid = "yes" if row["valid"] else "no"
        rules = "; ".join(
            f"{markdown_text(given['rule'])}: {given['spend']}" for given in row["allocated_by"]
        )
        lines.append(
            f"| {markdown_text(row['value'])} | {row['spend']} | {row['resource_count']} "
            f"| {valid} | {row['allocated_spend']} | {row['shared_spend']} | {rules} |"
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
    lines += _after_rules_markdown(fields["as_allocated"])
    lines.append("")
    return "\n".join(lines)


def _after_rules_markdown(allocated: dict[str, Any] | None) -> list[str]:
    """The second table: what the allocation and shared-cost rules leave without a value."""
    if allocated is None:
        return []
    if allocated["rules_version"] is None:
        version = "No allocation rule is written: as allocated is as tagged."
    else:
        version = (
            f"Rules v{allocated['rules_version']}: {allocated['rule_count']} allocation "
            f"rule(s), {allocated['shared_rule_count']} shared-cost rule(s) for this key."
        )
    labels = {
        "untagged_spend": "Untagged (no rule gives a value)",
        "invalid_spend": "Invalid value (no rule gives a value)",
        "unattributable_spend": "Unattributable (no shared-cost rule splits it)",
        "unmatched_resource_spend": "Unmatched resources (no rule gives a value)",
        "shared_spend": "Shared costs (split over the values)",
    }
    lines = ["", "## After allocation rules", "", version, ""]
    lines += ["| Bucket | Spend |", "| --- | ---: |"]
    lines += [f"| {labels[name]} | {allocated[name]} |" for name in AS_ALLOCATED_FIELDS]
    lines += ["", "A rule gives a value for showback only: compliance is never changed by it."]
    return lines


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
