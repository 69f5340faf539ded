"""Run by test_guards in separate processes: hit one shared counter N times, print the allowed.

Usage: python -m tests.mcp_endpoint.counter_worker HITS SUBJECT LIMIT START_AT
       python -m tests.mcp_endpoint.counter_worker --create-table
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from mcp_endpoint import counters  # noqa: E402
from mcp_endpoint.models import GuardCounter  # noqa: E402


def main(argv: list[str]) -> None:
    if argv[1:] == ["--create-table"]:
        with connection.schema_editor() as editor:
            editor.create_model(GuardCounter)
        return
    hits, subject, limit, start_at = int(argv[1]), argv[2], int(argv[3]), float(argv[4])
    while time.time() < start_at:
        time.sleep(0.002)
    allowed = sum(
        counters.hit("budget_test", subject, limit=limit, window_seconds=3600, now=start_at).allowed
        for _ in range(hits)
    )
    sys.stdout.write(f"{allowed}\n")


if __name__ == "__main__":
    main(sys.argv)
