"""Showback on a large estate: the stored sums against the computation they replace.

Seeds (once per database) a synthetic estate of N resources through the real scan pipeline and
a FOCUS bill of N x ROWS rows (every resource charged on ROWS days, plus tax, support and
charges on resources the inventory does not hold) through the real import, adds allocation
and shared-cost rules on ``CostCenter`` through the writes, then measures:

- the refresh of the stored sums (every stored key, the rules applied to every charge), its
  time and the process's peak memory;
- ``spend_by_tag`` for ``CostCenter`` read from the stored sums (p50 / p95 / max), and the same
  question computed from the bill lines (the reader before the sums were stored);
- the Allocation page (table, chart and 12-month trend) through Django's test client.

  createdb -h 127.0.0.1 -U postgres bench_showback
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_showback \\
    .venv/bin/python -m bench.showback --resources 1000000 --rows 10 --requests 60
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.dashboard_pages import peak_rss_mb, percentile
from bench.focus import FOCUS_HEADER

KEY = "CostCenter"
PERIOD = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
#: Resources on the bill that no scan found (their spend is unmatched).
UNSCANNED = 1000


def write_bill(path: Path, size: int, rows: int) -> int:
    """The month's bill: each resource charged once a day on ``rows`` days; returns the rows."""
    from bench.synthetic import ACCOUNT_ID, REGIONS, estate

    rng = random.Random(11)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(FOCUS_HEADER)

        def charge(region: str, service: str, resource: str, category: str, cost: str) -> None:
            nonlocal written
            day = rng.randrange(1, 29)
            charged = (f"2026-10-{day:02d}T00:00:00Z", f"2026-10-{day + 1:02d}T00:00:00Z")
            writer.writerow(
                [
                    "999999999999",
                    *PERIOD,
                    *charged,
                    ACCOUNT_ID,
                    region,
                    service,
                    resource,
                    category,
                    cost,
                    cost,
                    cost,
                    "USD",
                    category.lower(),
                ]
            )
            written += 1

        for resource in estate(size):
            service = resource.resource_type.split(":")[0]
            for _ in range(rows):
                charge(
                    resource.region, service, resource.arn, "Usage", f"{rng.randint(1, 5000) / 100}"
                )
        for index in range(UNSCANNED):
            region = REGIONS[index % len(REGIONS)]
            arn = f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/E{index:08d}"
            charge(region, "cloudfront", arn, "Usage", f"{rng.randint(1, 50_000) / 100}")
        for region in REGIONS:
            charge(region, "Tax", "", "Tax", "1234.56")
            charge(region, "AWS Support", "", "Usage", "999.00")
    return written


def seed_bill(size: int, rows: int) -> None:
    from compliance.models import BillingImport
    from compliance.permissions.accounts import Operator
    from compliance.writes.costs import do_import_costs

    if BillingImport.objects.exists():
        return
    with tempfile.TemporaryDirectory(prefix="bench-showback-") as folder:
        path = Path(folder) / "focus.csv"
        written = write_bill(path, size, rows)
        started = time.perf_counter()
        do_import_costs(str(path), acting=Operator())
        print(
            f"bill of {written:,} rows imported in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )


def seed_rules() -> None:
    """Four allocation rules and two shared-cost rules on ``KEY``, through the writes."""
    from compliance.models import AllocationRule, SharedCostRule
    from compliance.permissions.accounts import Operator
    from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule

    if AllocationRule.objects.exists():
        return
    operator = Operator()
    rules = [
        AllocationRule(
            tag_key=KEY, name="log groups", value="CC-2001", resource_types=["logs:log-group"]
        ),
        AllocationRule(tag_key=KEY, name="named res-1…", value="CC-1001", name_pattern="res-1*"),
        AllocationRule(tag_key=KEY, name="Sydney", value="CC-1002", regions=["ap-southeast-2"]),
        AllocationRule(
            tag_key=KEY, name="CloudFront", value="CC-2001", arn_pattern="arn:aws:cloudfront::*"
        ),
    ]
    for position, rule in enumerate(rules, start=1):
        rule.position = position
        do_save_allocation_rule(rule, acting=operator)
    do_save_shared_cost_rule(
        SharedCostRule(tag_key=KEY, name="tax", charge_categories=["Tax"], mode="proportional"),
        acting=operator,
    )
    do_save_shared_cost_rule(
        SharedCostRule(tag_key=KEY, name="support", services=["AWS Support"], mode="even"),
        acting=operator,
    )


def timed(call: Callable[[], object], requests: int) -> list[float]:
    call()  # warm-up
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def row(name: str, timings: list[float]) -> str:
    return (
        f"| {name} | {len(timings)} | {statistics.median(timings):.0f} ms | "
        f"{percentile(timings, 0.95):.0f} ms | {max(timings):.0f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=10, help="bill rows per resource")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--computed", type=int, default=3, help="computed answers to time")
    parser.add_argument("--seed-only", action="store_true", help="seed the database and stop")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    from bench.mcp_calls import USERNAME, seed, setup_django

    setup_django()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from compliance.models import CostLine, ShowbackFigure, ShowbackState
    from compliance.permissions.accounts import Operator
    from compliance.reads import showback
    from compliance.stored.showback import refresh_showback

    seed(options.resources)
    seed_bill(options.resources, options.rows)
    seed_rules()
    if options.seed_only:
        return 0
    before = peak_rss_mb()
    started = time.perf_counter()
    refresh_showback()
    refreshed = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    operator = Operator()
    user = get_user_model().objects.get(username=USERNAME)
    print(
        f"python {platform.python_version()}, {connection.vendor}, {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f}, {options.resources:,} resources, "
        f"{CostLine.objects.count():,} cost lines from {options.resources * options.rows:,}+ "
        f"bill rows, {ShowbackFigure.objects.count():,} stored sums for "
        f"{len(ShowbackState.objects.get().tag_keys)} keys"
    )
    print(
        f"refresh (every stored key, rules applied to every charge): {refreshed:.1f} s; "
        f"peak RSS {before:.0f} MB before, {peak_rss_mb():.0f} MB after"
    )
    print("| question | requests | p50 | p95 | max |")
    print("|---|---:|---:|---:|---:|")
    print(
        row(
            "`spend_by_tag`, stored",
            timed(lambda: showback.spend_by_tag(operator, KEY), options.requests),
        )
    )
    print(
        row(
            "`spend_by_tag`, viewer of the account, stored",
            timed(lambda: showback.spend_by_tag(user, KEY), options.requests),
        )
    )
    client = Client()
    client.force_login(user)
    page = f"/allocation/?tag_key={KEY}"

    def get_page() -> None:
        response = client.get(page, secure=True)
        if response.status_code != 200:
            raise SystemExit(f"{page} answered {response.status_code}")

    print(row(f"Allocation page (`{page}`), stored", timed(get_page, options.requests)))
    ShowbackState.objects.update(tag_keys=[])  # the same question, computed from the lines
    print(
        row(
            "`spend_by_tag`, computed",
            timed(lambda: showback.spend_by_tag(operator, KEY), options.computed),
        )
    )
    print(
        f"peak RSS after the computed answers: {peak_rss_mb():.0f} MB",
    )
    refresh_showback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
