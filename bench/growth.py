"""How each figure grows with the estate: 10,000, 100,000 and 1,000,000 resources.

One PostgreSQL database per size (``<prefix><label>``: ``bench_load_10k``, ``bench_load_100k``,
``bench_load_1m`` by default), seeded once each by ``bench.mixed_load.prepare_viewer`` (estate
through the real scan pipeline, a bill with one charge per resource, the viewers). Each size is
measured in its own process, so memory figures are that size's; per size:

- scan ingest: a rescan of the whole estate (every resource known: tags compared, violations
  replaced, the snapshot's money recomputed) through the production pipeline, and the process's
  peak RSS during it;
- ``reads.compliance_summary`` for a viewer with a grant, in process;
- ``check_tag_compliance`` over HTTP, one client, sequential calls (service time, no queueing),
  on gunicorn with uvicorn workers, and each worker's RSS afterwards;
- server time of the dashboard pages of ``bench.dashboard_pages`` (Django's test client, in
  process) and the process's peak RSS while serving them;
- the database's size.

  for size in 10k 100k 1m; do createdb -h 127.0.0.1 -U postgres bench_load_$size; done
  REDIS_URL=redis://127.0.0.1:6379/3 .venv/bin/python -m bench.growth [--sizes 10k,100k,1m]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.mcp_calls import (
    BENCH_ENV,
    drive,
    free_port,
    percentile,
    seed,
    setup_django,
    start_gunicorn,
    stop,
    wait_ready,
)

SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
SERVER = "postgres://postgres@127.0.0.1:5432/"


def reset_peak_rss() -> None:
    """Start ``VmHWM`` afresh from the current RSS (Linux: ``clear_refs`` value 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def timed_ms(function: Any, repeat: int) -> list[float]:
    function()  # warm-up: connections, caches, planner
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def rescan(size: int) -> dict[str, float]:
    from bench.scan_ingest import synthetic_inventory
    from compliance import scans
    from compliance.models import Scan
    from compliance.permissions.accounts import Operator
    from compliance.writes.scans import do_request_scan

    scans.collect_inventory = synthetic_inventory(size, 1000)  # type: ignore[attr-defined]
    reset_peak_rss()
    started = time.perf_counter()
    scan = scans.execute_scan(do_request_scan(acting=Operator()).pk)
    elapsed = time.perf_counter() - started
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    assert scan.total_resources == size
    return {
        "rescan_s": round(elapsed, 1),
        "rescan_per_s": round(size / elapsed),
        "rescan_peak_rss_mb": round(peak_rss_mb()),
    }


def summary_ms() -> dict[str, float]:
    from django.contrib.auth import get_user_model

    from bench.mixed_load import USERNAME
    from compliance import reads

    viewer = get_user_model().objects.get(username=USERNAME)
    timings = timed_ms(lambda: reads.compliance_summary(viewer), 30)
    return {"summary_p50_ms": round(statistics.median(timings), 1)}


def pages_ms(requests: int, budget: float) -> dict[str, Any]:
    """Each page of ``bench.dashboard_pages.PAGES`` through Django's test client, signed in as
    the analyst: one warm-up request, then ``requests`` or as many as ``budget`` seconds allow
    (at least one; at a million resources one page may take minutes)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.dashboard_pages import PAGES
    from bench.mixed_load import USERNAME

    client = Client()
    client.force_login(get_user_model().objects.get(username=USERNAME))
    reset_peak_rss()
    figures: dict[str, Any] = {}
    for name, path in PAGES.items():
        timings: list[float] = []
        for _ in range(requests + 1):
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}")
            timings.append(elapsed * 1000)
            if sum(timings[1:]) / 1000 > budget and len(timings) > 1:
                break
        measured = timings[1:]
        figures[name] = {
            "requests": len(measured),
            "p50_ms": round(statistics.median(measured)),
            "p95_ms": round(percentile(measured, 0.95)),
        }
    return {"pages": figures, "pages_peak_rss_mb": round(peak_rss_mb())}


def one_client(key: str, calls: int, budget: float) -> dict[str, Any]:
    """``check_tag_compliance`` on gunicorn (2 uvicorn workers), one client at a time, for
    ``calls`` calls or ``budget`` seconds."""
    from bench.mixed_load import worker_pids

    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="bench-growth-", suffix=".log")[1])
    with log_path.open("wb") as log:
        server = start_gunicorn(port, 2, {**os.environ, **BENCH_ENV}, log)
    try:
        wait_ready(port, server)
        latencies, errors, _wall, _per_tool = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}/mcp",
                key,
                clients=1,
                calls=calls,
                seconds=budget,
                tools=(("check_tag_compliance", {"limit": 50}),),
            )
        )
        workers = [peak_rss_mb(pid) for pid in worker_pids(server.pid)]
    finally:
        stop(server)
        log_path.unlink()
    for error in errors[:3]:
        print("check_tag_compliance failed:", error[:300], file=sys.stderr)
    warm = latencies[2:] or latencies  # the first call of each worker warms its caches
    return {
        "check_tag_compliance_calls": len(warm),
        "check_tag_compliance_errors": len(errors),
        "check_tag_compliance_p50_ms": round(percentile(warm, 0.5) * 1000, 1),
        "check_tag_compliance_p99_ms": round(percentile(warm, 0.99) * 1000, 1),
        "worker_peak_rss_mb": [round(rss) for rss in workers],
    }


def measure_one(size: int, requests: int, calls: int, budget: float) -> dict[str, Any]:
    os.environ.update(BENCH_ENV)
    setup_django()
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the client's per-request lines
    from django.db import connection

    from bench.mixed_load import USERNAME, prepare_viewer

    prepare_viewer(size)
    figures: dict[str, Any] = {"resources": size}
    figures |= rescan(size)
    # After the rescan: the summary's stored figures for the new scan when finalisation did
    # not store them, and a key.
    key = seed(size, username=USERNAME)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        figures["database_mb"] = round(cursor.fetchone()[0] / 1024 / 1024)
    figures |= summary_ms()
    figures |= pages_ms(requests, budget)
    connection.close()
    figures |= one_client(key, calls, budget)
    return figures


def print_table(results: list[dict[str, Any]]) -> None:
    sizes = [f"{r['resources']:,}" for r in results]
    print("| figure | " + " | ".join(sizes) + " |")
    print("|---|" + "---:|" * len(results))
    rows: list[tuple[str, Any]] = [
        ("rescan, whole estate", lambda r: f"{r['rescan_s']} s ({r['rescan_per_s']:,}/s)"),
        ("rescan peak RSS", lambda r: f"{r['rescan_peak_rss_mb']} MB"),
        ("compliance_summary (p50)", lambda r: f"{r['summary_p50_ms']} ms"),
        (
            "check_tag_compliance, one client (p50 / p99)",
            lambda r: (
                f"{r['check_tag_compliance_p50_ms']:,} / "
                f"{r['check_tag_compliance_p99_ms']:,} ms ({r['check_tag_compliance_calls']} "
                f"calls, {r['check_tag_compliance_errors']} errors)"
            ),
        ),
    ]
    for page in results[0]["pages"]:
        rows.append(
            (
                f"page: {page} (p50 / p95)",
                lambda r, page=page: (
                    f"{r['pages'][page]['p50_ms']:,} / {r['pages'][page]['p95_ms']:,} ms"
                ),
            )
        )
    rows += [
        ("pages, process peak RSS", lambda r: f"{r['pages_peak_rss_mb']} MB"),
        (
            "gunicorn workers' peak RSS",
            lambda r: " / ".join(f"{rss} MB" for rss in r["worker_peak_rss_mb"]),
        ),
        ("database size", lambda r: f"{r['database_mb']:,} MB"),
        (
            "load average (1 min) before / after",
            lambda r: f"{r['load_before']} / {r['load_after']}",
        ),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"of {list(SIZES)}")
    parser.add_argument("--prefix", default="bench_load_", help="database name prefix")
    parser.add_argument("--requests", type=int, default=20, help="per page, at most")
    parser.add_argument(
        "--calls", type=int, default=100, help="check_tag_compliance calls, at most"
    )
    parser.add_argument(
        "--budget", type=float, default=120, help="seconds per page and for the calls, at most"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.requests, args.calls, args.budget)))
        return 0
    results = []
    for label in args.sizes.split(","):
        before = os.getloadavg()[0]
        limits = ["--requests", str(args.requests), "--calls", str(args.calls)]
        command = [sys.executable, "-m", "bench.growth", "--one", str(SIZES[label]), *limits]
        answer = subprocess.run(
            [*command, "--budget", str(args.budget)],
            env={
                **os.environ,
                "DATABASE_URL": f"{SERVER}{args.prefix}{label}",
                # Django's test client (the in-process page timings) calls itself "testserver".
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            },
            stdout=subprocess.PIPE,
            check=True,
        )
        row = json.loads(answer.stdout.decode().strip().splitlines()[-1])
        row |= {"load_before": round(before, 1), "load_after": round(os.getloadavg()[0], 1)}
        print(json.dumps(row), file=sys.stderr)
        results.append(row)
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, PostgreSQL, REDIS_URL "
        f"{'set' if os.environ.get('REDIS_URL') else 'unset'}"
    )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
