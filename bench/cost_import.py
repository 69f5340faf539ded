"""Bill import rate and peak memory: a synthetic FOCUS CSV through ``manage.py import_costs``.

Generates a FOCUS 1.0 CSV of N rows (default 1,000,000) in a temporary folder: hourly usage rows
for 2,000 resources over 5 accounts, with credits, tax and support rows mixed in, the way an
export looks. Then imports it through the real command (read, sum, store in one transaction) and
prints rows/s and the peak RSS of the process. Generation is not timed.

  .venv/bin/python -m bench.cost_import [ROWS]
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python -m bench.cost_import
"""

from __future__ import annotations

import csv
import io
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.focus import FOCUS_HEADER  # noqa: E402
from compliance.models import BillingImport, CostLine  # noqa: E402

HEADER = [*FOCUS_HEADER, "x_UsageType"]
ACCOUNTS = [f"{100000000000 + i}" for i in range(5)]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
SERVICES = ["Amazon EC2", "Amazon S3", "Amazon RDS", "AWS Lambda", "Amazon DynamoDB"]
RESOURCES = 2_000


def generate(path: Path, rows: int) -> None:
    rng = random.Random(42)
    resources = []
    for i in range(RESOURCES):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        region = REGIONS[i % len(REGIONS)]
        service = SERVICES[i % len(SERVICES)]
        # Half by ARN, half by bare id, as real bills mix them.
        resource_id = (
            f"arn:aws:ec2:{region}:{account}:instance/i-{i:017x}" if i % 2 else f"i-{i:017x}"
        )
        resources.append((account, region, service, resource_id))
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for n in range(rows):
            hour = n % 720
            stamp = f"2024-05-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
            kind = n % 50
            if kind == 0:
                account, region, service, resource_id = ACCOUNTS[n % 5], "", "Amazon EC2", ""
                category, cost = "Tax", f"{rng.randint(1, 99_999) / 1000:.3f}"
            elif kind == 1:
                account, region, service, resource_id = ACCOUNTS[n % 5], "", "AWS Support", ""
                category, cost = "Usage", f"{rng.randint(1, 9_999) / 100:.2f}"
            else:
                account, region, service, resource_id = resources[n % RESOURCES]
                category = "Credit" if kind == 2 else "Usage"
                cost = f"{rng.randint(1, 9_999_999) / 10_000_000:.7f}"
                if category == "Credit":
                    cost = "-" + cost
            writer.writerow(
                [
                    "999999999999",
                    "2024-05-01T00:00:00Z",
                    "2024-06-01T00:00:00Z",
                    stamp,
                    stamp,
                    account,
                    region,
                    service,
                    resource_id,
                    category,
                    cost,
                    cost,
                    cost,
                    "USD",
                    "m5.large On Demand Linux",
                    "BoxUsage:m5.large",
                ]
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="bench-bill-") as folder:
        path = Path(folder) / "focus.csv"
        generate(path, rows)
        size_mb = path.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        call_command("import_costs", str(path), stdout=io.StringIO(), stderr=io.StringIO())
        elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    latest = BillingImport.objects.order_by("-id").first()
    if latest is None or latest.row_count != rows:
        raise SystemExit("the import did not store the bill")
    print(f"python {platform.python_version()}, {connection.vendor}, {platform.machine()}")
    print(f"file: {rows:,} FOCUS rows, {size_mb:.0f} MB CSV")
    print(
        f"stored: {latest.line_count:,} cost lines "
        f"({CostLine.objects.filter(billing_import=latest).count():,} in the database)"
    )
    print(f"import: {elapsed:.1f} s, {rows / elapsed:,.0f} rows/s")
    print(f"peak RSS: {peak_mb:.0f} MB (before the import: {rss_before:.0f} MB)")


if __name__ == "__main__":
    main()
