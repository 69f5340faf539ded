from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from compliance.checklist.evaluation import report
from compliance.permissions.accounts import Operator
from compliance.writes.checklist import do_run_security_checklist

SYMBOLS = {
    # A status label, not a password:
    "pass": "PASS",  # nosec B105
    "fail": "FAIL",
    "attention": "ATTN",
    "attested": "ATTD",
    "expired": "EXPD",
    "unknown": "????",
}


class Command(BaseCommand):
    help = (
        "Evaluate the deployment security checklist now, keep the results in the history and "
        "print them. Exit status 1 when a required item fails or its attestation has expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        run, results = do_run_security_checklist(acting=Operator())
        data = report(results, checked_at=run.checked_at, run_id=run.pk)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            section = ""
            for item in data["items"]:
                if item["section"] != section:
                    section = item["section"]
                    self.stdout.write(f"\n{section}")
                required = "*" if item["required"] else " "
                self.stdout.write(
                    f"  [{SYMBOLS[item['status']]}]{required} {item['id']}: {item['title']}"
                )
                self.stdout.write(f"           {item['evidence']}")
                if item["remedy"]:
                    self.stdout.write(f"           -> {item['remedy']}")
            totals = data["summary"]
            counts = ", ".join(f"{totals[s]} {s}" for s in SYMBOLS if totals[s])
            self.stdout.write(f"\n{totals['total']} items: {counts}. (* required)")
            if totals["required_failing"]:
                self.stdout.write(
                    "Required items failing: " + ", ".join(totals["required_failing"])
                )
        if not data["ok"]:
            raise SystemExit(1)
