"""Peak memory of reading one bill as CSV and as Parquet: the same rows, each in a fresh process.

Writes a FOCUS 1.0 bill of N rows (default 500,000) twice, as CSV and as Parquet (the Parquet in
row groups of 128,000 rows), then reads each through
``compliance.core.billing.read_bill`` in a subprocess of its own and prints the peak RSS of that
process (``VmHWM``), its baseline after imports, the time, and the Parquet/CSV ratio. The
read is the part of an import that depends on the file's format: the summed lines it returns,
and so the database write after it, are the same for both.

  .venv/bin/python -m bench.bill_import_memory [ROWS]
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.focus import FOCUS_HEADER

ACCOUNTS = [f"{100000000000 + i}" for i in range(5)]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
SERVICES = ["Amazon EC2", "Amazon S3", "Amazon RDS", "AWS Lambda", "Amazon DynamoDB"]
RESOURCES = 2_000
ROW_GROUP_ROWS = 128_000


def rows(count: int) -> list[list[str]]:
    rng = random.Random(42)
    out = []
    for n in range(count):
        i = n % RESOURCES
        account = ACCOUNTS[i % len(ACCOUNTS)]
        region = REGIONS[i % len(REGIONS)]
        hour = n % 720
        stamp = f"2024-05-{1 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
        end = f"2024-05-{1 + hour // 24:02d}T{hour % 24:02d}:59:59Z"
        cost = f"{rng.randint(1, 99_999) / 10_000:.4f}"
        out.append(
            [
                "999999999999",
                "2024-05-01T00:00:00Z",
                "2024-06-01T00:00:00Z",
                stamp,
                end,
                account,
                region,
                SERVICES[i % len(SERVICES)],
                f"arn:aws:ec2:{region}:{account}:instance/i-{i:017x}",
                "Usage",
                cost,
                cost,
                cost,
                "USD",
                "m5.large usage",
            ]
        )
    return out


def write(folder: Path, count: int) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = rows(count)
    csv_path = folder / "bill.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(FOCUS_HEADER)
        writer.writerows(data)
    columns = {name: [row[i] for row in data] for i, name in enumerate(FOCUS_HEADER)}
    del data
    table = pa.table(
        {
            name: pa.array([float(v) for v in values], pa.float64())
            if name in ("BilledCost", "EffectiveCost", "ListCost")
            else pa.array(values)
            for name, values in columns.items()
        }
    )
    parquet_path = folder / "bill.parquet"
    pq.write_table(table, parquet_path, row_group_size=ROW_GROUP_ROWS)
    return csv_path, parquet_path


#: Run in a fresh interpreter: the baseline is taken after the reader's own imports.
MEASURE = """
import json, sys, time
import pyarrow.parquet  # both runs pay for Arrow's import, so the difference is the read
from compliance.core.billing import read_bill
def high_water_kb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, from the generating parent.
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
baseline = high_water_kb()
started = time.perf_counter()
bill = read_bill(sys.argv[1])
elapsed = time.perf_counter() - started
peak = high_water_kb()
print(json.dumps({"rows": bill.row_count, "lines": sum(len(p.lines) for p in bill.periods),
                  "total": str(bill.periods[0].effective_total),
                  "seconds": elapsed, "baseline_kb": baseline, "peak_kb": peak}))
"""


def measure(path: Path) -> dict[str, float | int | str]:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    figures: dict[str, float | int | str] = json.loads(result.stdout)
    return figures


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        csv_path, parquet_path = write(Path(folder), count)
        print(f"generated {count:,} rows in {time.perf_counter() - started:.1f} s")
        results = {}
        for name, path in (("csv", csv_path), ("parquet", parquet_path)):
            figures = measure(path)
            results[name] = figures
            print(
                f"{name:<8} {path.stat().st_size / 1e6:7.1f} MB file  "
                f"{figures['rows']:,} rows  {figures['lines']:,} lines  total {figures['total']}  "
                f"{figures['seconds']:.1f} s  peak RSS {int(figures['peak_kb']) / 1024:.0f} MB "
                f"(baseline {int(figures['baseline_kb']) / 1024:.0f} MB)"
            )
        if results["csv"]["total"] != results["parquet"]["total"]:
            print("the two reads disagree on the total")
        ratio = int(results["parquet"]["peak_kb"]) / int(results["csv"]["peak_kb"])
        print(f"parquet/csv peak RSS: {ratio:.2f}x")


if __name__ == "__main__":
    main()
