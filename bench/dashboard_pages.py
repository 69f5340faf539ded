"""Server time of dashboard pages on a large estate: the overview and a filtered resources page.

Seeds (once per database) a synthetic estate of N resources (default 1,000,000) through the real
scan pipeline, and a FOCUS bill with one charge per resource plus tax and support rows through
the real import, then signs in a viewer granted the account and requests each page many times
through Django's test client, in process: the figure is the server's time (routing, selectors,
SQL, template rendering), with no network or browser in it.

The money on these pages comes from the costs stored at the last import or finalisation
(compliance.stored.costs). A database seeded before they existed (or whose stored costs no
longer hold) is refreshed first, and the refresh's time and the process's peak memory printed;
``--refresh`` refreshes in any case, to measure it.

  createdb -h 127.0.0.1 -U postgres bench_dash
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_dash \\
    .venv/bin/python -m bench.dashboard_pages --resources 1000000 --requests 60
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.focus import FOCUS_HEADER

PAGES = {
    "overview": "/",
    "resources, filtered": "/resources/?region=eu-west-1&compliance=noncompliant&sort=-cost",
    "resources, default order": "/resources/",
    "resources, search": "/resources/?q=bench-1-0000042",
    "violations": "/violations/",
    "costs": "/costs/",
}


def write_bill(path: Path, size: int) -> None:
    """One month: a usage charge for every synthetic resource, and per region tax and support."""
    from bench.synthetic import ACCOUNT_ID, REGIONS, estate

    rng = random.Random(7)
    period = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(FOCUS_HEADER)
        for resource in estate(size):
            cost = f"{rng.randint(1, 50_000) / 100:.2f}"
            writer.writerow(
                [
                    "999999999999",
                    *period,
                    *period,
                    ACCOUNT_ID,
                    resource.region,
                    resource.resource_type.split(":")[0],
                    resource.arn,
                    "Usage",
                    cost,
                    cost,
                    cost,
                    "USD",
                    "usage",
                ]
            )
        for region in REGIONS:
            for category, amount in (("Tax", "1234.56"), ("Usage", "999.00")):
                writer.writerow(
                    [
                        "999999999999",
                        *period,
                        *period,
                        ACCOUNT_ID,
                        region,
                        "AWS Support",
                        "",
                        category,
                        amount,
                        amount,
                        amount,
                        "USD",
                        category.lower(),
                    ]
                )


def seed_bill(size: int) -> None:
    from compliance.models import BillingImport
    from compliance.permissions.accounts import Operator
    from compliance.writes.costs import do_import_costs

    if BillingImport.objects.exists():
        return
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as folder:
        path = Path(folder) / "focus.csv"
        write_bill(path, size)
        started = time.perf_counter()
        do_import_costs(str(path), acting=Operator())
        print(f"bill imported in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def refresh_stored_costs(force: bool) -> None:
    from django.utils import timezone

    from compliance.stored.costs import Stored, refresh_costs

    if not force and Stored.load(timezone.now(), exemptions=True) is not None:
        return
    before = peak_rss_mb()
    started = time.perf_counter()
    refresh_costs()
    print(
        f"stored costs refreshed in {time.perf_counter() - started:.0f} s; peak RSS "
        f"{before:.0f} MB before, {peak_rss_mb():.0f} MB after",
        file=sys.stderr,
    )


def measure(path: str, requests: int) -> list[float]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.mcp_calls import USERNAME
    from compliance.permissions import roles

    user = get_user_model().objects.get(username=USERNAME)
    roles.assign_role(user, roles.Role.ANALYST)
    client = Client()
    client.force_login(user)
    for _ in range(3):  # warm-up: connections, template cache, planner
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--refresh", action="store_true", help="refresh the stored costs first")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")  # Django's test client
    from bench.mcp_calls import seed, setup_django

    setup_django()
    from django.db import connection

    seed(options.resources)
    seed_bill(options.resources)
    refresh_stored_costs(options.refresh)
    if connection.vendor == "postgresql":
        # Steady state, as autovacuum keeps it: planner statistics, and the visibility map that
        # lets counts read indexes alone (a first refresh rewrites every resource row).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        f"python {platform.python_version()}, {connection.vendor}, {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f}, {options.resources:,} resources"
    )
    print("| page | requests | p50 | p95 | max |")
    print("|---|---:|---:|---:|---:|")
    for name, path in PAGES.items():
        timings = measure(path, options.requests)
        print(
            f"| {name} (`{path}`) | {len(timings)} | {statistics.median(timings):.0f} ms | "
            f"{percentile(timings, 0.95):.0f} ms | {max(timings):.0f} ms |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
