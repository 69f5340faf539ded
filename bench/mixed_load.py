"""Mixed load: MCP calls and dashboard pages at once, on gunicorn with several uvicorn workers.

The production command (``gunicorn finops_site.asgi:application -k uvicorn_worker.UvicornWorker
--workers N``) on a free 127.0.0.1 port, PostgreSQL, and Redis (``REDIS_URL``) for the guard
counters. N concurrent clients (32 by default) run for a set time (10 minutes by default); every
fifth request is a dashboard page, the rest MCP ``tools/call`` POSTs, so the mix is exactly 80/20:

- MCP, with an API key, the tools an assistant calls in turn (``TOOLS``);
- dashboard, as a person signed in through ``/accounts/login/`` with a password (a local user
  with the analyst role and a grant on the account), each client keeping its own session
  cookie, through a reverse proxy as production has it: ``TRUSTED_PROXY_CIDRS`` lists 127.0.0.1
  and each client sends its own ``X-Forwarded-For`` address (sign-in is limited per address).

Counted as an error: any answer other than 200 (a page redirected to the sign-in page is one),
any JSON-RPC error, any tool error, any transport error. The audit log must grow by exactly one
``mcp.call`` row per MCP call, and by nothing else: dashboard GETs write no audit rows, so the
rows added over the measured window must equal the MCP calls made. Every 10 s the resident set
(``VmRSS`` in ``/proc/<pid>/status``) of each gunicorn worker is sampled, with the 1-minute load
average; a least-squares line through each worker's samples gives its growth in MB per minute.

The estate (``bench.mcp_calls.seed``: synthetic resources through the real scan pipeline) and a
bill with one charge per resource (``bench.dashboard_pages.seed_bill``) are loaded once per
database. Guard limits are raised for the run (``bench.mcp_calls.BENCH_ENV``): the guards still
run and count on every call, they must just not refuse a deliberate load.

  createdb -h 127.0.0.1 -U postgres bench_load_1m
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_load_1m \\
  REDIS_URL=redis://127.0.0.1:6379/3 \\
    .venv/bin/python -m bench.mixed_load --resources 1000000 --minutes 10 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.mcp_calls import (
    BENCH_ENV,
    KEEPALIVE_EXPIRY,
    call_tool,
    free_port,
    mcp_headers,
    percentile,
    seed,
    setup_django,
    start_gunicorn,
    stop,
    wait_ready,
)

USERNAME = "bench-load"
#: Every PAGE_EVERY-th request is a dashboard page: 20 % of the requests.
PAGE_EVERY = 5
SAMPLE_SECONDS = 10.0

#: The MCP calls, in turn (labels are what the report shows).
TOOLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("check_tag_compliance", "check_tag_compliance", {"limit": 50}),
    ("find_untagged_resources", "find_untagged_resources", {"limit": 50}),
    ("get_cost_attribution_gap", "get_cost_attribution_gap", {}),
    ("list_scans", "list_scans", {"limit": 20}),
    ("validate_resource_tags, by ARN", "validate_resource_tags", {"resource_arn": ""}),
    (
        "validate_resource_tags, tags",
        "validate_resource_tags",
        {"resource_type": "ec2:instance", "tags": {"Owner": "Bob", "Environment": "prod"}},
    ),
    ("get_tagging_policy", "get_tagging_policy", {}),
)

#: The dashboard pages, in turn.
PAGES: tuple[tuple[str, str], ...] = (
    ("overview", "/"),
    ("resources, filtered", "/resources/?region=eu-west-1&compliance=noncompliant&sort=-cost"),
    ("violations", "/violations/"),
    ("costs", "/costs/"),
    ("scans", "/scans/"),
)

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def tool_calls() -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """``TOOLS`` with the ARN of a resource every synthetic estate has."""
    from bench.synthetic import estate

    arn = next(estate(1)).arn
    return tuple(
        (
            label,
            name,
            {**arguments, "resource_arn": arn} if "resource_arn" in arguments else arguments,
        )
        for label, name, arguments in TOOLS
    )


def prepare_viewer(size: int, *, bill: bool = True) -> tuple[str, str]:
    """The seeded estate (with a bill unless ``bill`` is false), and the person who signs in to
    look at it: a local user with a password (new each run), the analyst role and a grant on the
    account. Returns their API key and password."""
    from django.contrib.auth import get_user_model

    from bench.dashboard_pages import seed_bill
    from compliance.permissions import roles

    key = seed(size, username=USERNAME)
    if bill:
        seed_bill(size)
    user = get_user_model().objects.get(username=USERNAME)
    password = secrets.token_urlsafe(24)
    user.set_password(password)
    user.save(update_fields=["password"])
    roles.assign_role(user, roles.Role.ANALYST)
    return key, password


# --- the load -------------------------------------------------------------------------------


@dataclass
class Results:
    """Latencies (seconds) by kind and by name, and what went wrong."""

    by_kind: dict[str, list[float]] = field(default_factory=lambda: {"mcp": [], "dashboard": []})
    by_name: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mcp_calls: int = 0
    page_requests: int = 0

    def record(self, kind: str, name: str, elapsed: float, error: str | None) -> None:
        if kind == "mcp":
            self.mcp_calls += 1
        else:
            self.page_requests += 1
        if error:
            self.errors.append(error)
            return
        self.by_kind[kind].append(elapsed)
        self.by_name.setdefault(name, []).append(elapsed)


async def sign_in(browser: Any, password: str) -> None:
    """Password sign-in through allauth's form, as a browser does it (CSRF token included)."""
    form = await browser.get("/accounts/login/")
    token = CSRF_FIELD.search(form.text)
    if form.status_code != 200 or token is None:
        raise RuntimeError(f"sign-in form: HTTP {form.status_code}")
    answer = await browser.post(
        "/accounts/login/",
        data={"login": USERNAME, "password": password, "csrfmiddlewaretoken": token.group(1)},
    )
    if answer.status_code != 302 or "sessionid" not in browser.cookies:
        raise RuntimeError(f"sign-in refused: HTTP {answer.status_code} {answer.text[:200]}")


async def get_page(browser: Any, name: str, path: str) -> tuple[float, str | None]:
    import httpx2 as httpx

    sent = time.perf_counter()
    try:
        response = await browser.get(path)
    except httpx.HTTPError as exc:
        return time.perf_counter() - sent, f"{name}: {type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - sent
    if response.status_code != 200:
        where = response.headers.get("location", "")
        return elapsed, f"{name}: HTTP {response.status_code} {where}".rstrip()
    return elapsed, None


async def run_load(
    base: str,
    key: str,
    password: str,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    measuring: Callable[[], Awaitable[None]],
) -> tuple[Results, float]:
    """Sign every client in, warm up for ``warmup`` seconds (not counted), await ``measuring``,
    then load for ``seconds``; returns the results and the measured wall time."""
    import httpx2 as httpx

    tools = tool_calls()
    url = f"{base}/mcp"
    limits = httpx.Limits(
        max_connections=clients,
        max_keepalive_connections=clients,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    browsers = [
        httpx.AsyncClient(
            base_url=base,
            headers={"x-forwarded-for": f"198.51.100.{number + 1}"},
            limits=httpx.Limits(max_connections=1, keepalive_expiry=KEEPALIVE_EXPIRY),
            timeout=60,
        )
        for number in range(clients)
    ]
    async with httpx.AsyncClient(headers=mcp_headers(key), limits=limits, timeout=60) as mcp:
        try:
            for browser in browsers:  # one after the other: signing in is not what is measured
                await sign_in(browser, password)

            async def phase(duration: float) -> tuple[Results, float]:
                results = Results()
                counter = itertools.count()
                started = time.perf_counter()
                deadline = started + duration

                async def one_client(browser: Any) -> None:
                    while time.perf_counter() < deadline:
                        index = next(counter)
                        if index % PAGE_EVERY == PAGE_EVERY - 1:
                            name, path = PAGES[(index // PAGE_EVERY) % len(PAGES)]
                            elapsed, error = await get_page(browser, name, path)
                            results.record("dashboard", name, elapsed, error)
                        else:
                            label, tool, arguments = tools[index % len(tools)]
                            elapsed, error = await call_tool(mcp, url, index, tool, arguments)
                            results.record("mcp", label, elapsed, error)

                await asyncio.gather(*(one_client(browser) for browser in browsers))
                return results, time.perf_counter() - started

            if warmup:
                warm, _wall = await phase(warmup)
                if warm.errors:
                    print("warm-up errors:", *warm.errors[:5], sep="\n  ", file=sys.stderr)
            await measuring()
            return await phase(seconds)
        finally:
            for browser in browsers:
                await browser.aclose()


# --- memory per worker ----------------------------------------------------------------------


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children (its workers), from ``/proc/<pid>/stat``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces or parentheses; the fields after it do not.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


@dataclass
class MemorySamples:
    """Seconds since the start, per worker pid: (seconds, RSS MB); and the load average."""

    per_worker: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)

    def take(self, master: int, started: float) -> None:
        now = time.monotonic() - started
        for pid in worker_pids(master):
            rss = rss_mb(pid)
            if rss is not None:
                self.per_worker.setdefault(pid, []).append((now, rss))
        self.load.append(os.getloadavg()[0])


async def sample_memory(
    master: int, samples: MemorySamples, stop_event: asyncio.Event, started: float
) -> None:
    while True:
        samples.take(master, started)
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=SAMPLE_SECONDS)
        except TimeoutError:
            continue
        samples.take(master, started)
        return


def trend_mb_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time."""
    if len(points) < 2:
        return float("nan")
    minutes = [seconds / 60 for seconds, _rss in points]
    slope, _intercept = statistics.linear_regression(minutes, [rss for _s, rss in points])
    return slope


def stable(points: list[tuple[float, float]]) -> bool:
    """No growth trend: the fitted line rises by less than 5 % of the starting RSS (or 5 MB,
    whichever is more) over the whole window."""
    if len(points) < 2:
        return False
    rise = trend_mb_per_minute(points) * (points[-1][0] - points[0][0]) / 60
    return rise < max(5.0, 0.05 * points[0][1])


# --- report ---------------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    ms = 1000.0
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.5) * ms, 1),
        "p90_ms": round(percentile(values, 0.9) * ms, 1),
        "p99_ms": round(percentile(values, 0.99) * ms, 1),
        "max_ms": round(max(values, default=0) * ms, 1),
    }


def server_problems(path: Path) -> list[str]:
    """Lines of the server's log that tell of a failure (tracebacks, killed or timed-out
    workers, errors)."""
    markers = ("Traceback", "ERROR", "CRITICAL", "WORKER TIMEOUT", "was sent SIG", "Booting worker")
    with path.open(encoding="utf-8", errors="replace") as log:
        return [line.rstrip() for line in log if any(marker in line for marker in markers)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds, not counted")
    parser.add_argument(
        "--no-bill",
        action="store_true",
        help="seed no bill (a database that has one keeps it): money figures stay empty",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("warning: DATABASE_URL is not PostgreSQL", file=sys.stderr)
    if not os.environ.get("REDIS_URL"):
        print("warning: REDIS_URL unset; guard counters stay per worker", file=sys.stderr)
    # Behind a reverse proxy as in production; the proxy that would terminate TLS is not
    # modelled, so plain HTTP (BENCH_ENV's ALLOW_PLAIN_HTTP: no redirect, no Secure cookies).
    proxy = {"TRUSTED_PROXY_CIDRS": "127.0.0.1/32"}
    os.environ.update(BENCH_ENV | proxy)
    setup_django()
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    from django.db import connection

    from compliance.models import BillingImport, Resource

    key, password = prepare_viewer(args.resources, bill=not args.no_bill)
    resources = Resource.objects.filter(gone_since__isnull=True).count()
    billed = BillingImport.objects.exists()
    connection.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = Path(tempfile.mkstemp(prefix="bench-load-", suffix=".log")[1])
    with server_log.open("wb") as log:
        server = start_gunicorn(port, args.workers, {**os.environ, **BENCH_ENV, **proxy}, log)
    load_before = os.getloadavg()
    samples = MemorySamples()
    try:
        wait_ready(port, server)

        async def measured() -> tuple[Results, float, dict[str, int]]:
            before: dict[str, int] = {}
            stop_event = asyncio.Event()

            async def measuring() -> None:
                before.update(await asyncio.to_thread(audit_counts))
                # The trend is fitted over the measured window only.
                samples.per_worker.clear()
                samples.load.clear()
                samples.take(server.pid, started)

            started = time.monotonic()
            sampler = asyncio.create_task(sample_memory(server.pid, samples, stop_event, started))
            try:
                results, wall = await run_load(
                    base,
                    key,
                    password,
                    clients=args.clients,
                    seconds=args.minutes * 60,
                    warmup=args.warmup,
                    measuring=measuring,
                )
                await asyncio.sleep(1)  # the audit rows commit before the answers; be generous
                after = await asyncio.to_thread(audit_counts)
            finally:
                stop_event.set()
                await sampler
            return results, wall, {name: after[name] - before[name] for name in after}

        results, wall, audit_added = asyncio.run(measured())
        problems = server_problems(server_log)
    finally:
        stop(server)
    if problems or results.errors:
        print(f"server log kept: {server_log}", file=sys.stderr)
    else:
        server_log.unlink()

    report = {
        "resources": resources,
        "bill_loaded": billed,
        "database": connection.vendor,
        "workers": args.workers,
        "clients": args.clients,
        "seconds": round(wall, 1),
        "requests": results.mcp_calls + results.page_requests,
        "mcp_calls": results.mcp_calls,
        "page_requests": results.page_requests,
        "throughput_per_s": round((results.mcp_calls + results.page_requests) / wall, 1),
        "mcp": summary(results.by_kind["mcp"]),
        "dashboard": summary(results.by_kind["dashboard"]),
        "by_name": {name: summary(values) for name, values in sorted(results.by_name.items())},
        "errors": len(results.errors),
        "error_samples": results.errors[:20],
        "errors_by_kind": dict(Counter(error_kind(error) for error in results.errors)),
        "audit_rows_added": audit_added["all"],
        "mcp_call_audit_rows_added": audit_added["mcp.call"],
        "mcp_denied_audit_rows_added": audit_added["mcp.denied"],
        "memory": {
            str(pid): {
                "first_mb": round(points[0][1], 1),
                "last_mb": round(points[-1][1], 1),
                "max_mb": round(max(rss for _s, rss in points), 1),
                "samples": len(points),
                "trend_mb_per_min": round(trend_mb_per_minute(points), 3),
                "stable": stable(points),
            }
            for pid, points in samples.per_worker.items()
        },
        "load_average": {
            "before": round(load_before[0], 2),
            "during_min": round(min(samples.load, default=0), 2),
            "during_mean": round(statistics.fmean(samples.load) if samples.load else 0, 2),
            "during_max": round(max(samples.load, default=0), 2),
        },
        "server_log_problems": problems[:20],
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
    }
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    exact_audit = (
        report["audit_rows_added"] == report["mcp_call_audit_rows_added"] == (results.mcp_calls)
    )
    return 0 if not results.errors and exact_audit else 1


def error_kind(error: str) -> str:
    """An error as counted by kind: "<request>: <what>" (e.g. "costs: HTTP 500") without the
    detail in brackets, a JSON-RPC answer by its request and its error's code and message (or
    the tool error's message), not its id or correlation id."""
    request, _, what = error.split(" (")[0].partition(": ")
    start = what.find("{")
    try:
        answer = json.loads(what[start:]) if start >= 0 else None
    except ValueError:
        answer = None  # cut short when recorded: keep the text before its ids
    if isinstance(answer, dict):
        found = answer.get("error") or answer.get("result", {}).get("structuredContent", {})
        found = found.get("error", found) if isinstance(found, dict) else found
        message = str(found.get("message", "")) if isinstance(found, dict) else ""
        code = found.get("code", "tool error") if isinstance(found, dict) else ""
        what = f"{what[:start]}{code}: {message}".strip()
    return f"{request}: {re.sub(r'[0-9a-f]{32}', '<id>', what)[:160]}"


def audit_counts() -> dict[str, int]:
    from django.db import connection

    from compliance.models import AuditEvent

    # A call refused or cut short by a guard (a tool timeout, say) is audited as mcp.denied.
    counts = {
        "all": AuditEvent.objects.count(),
        "mcp.call": AuditEvent.objects.filter(event_type="mcp.call").count(),
        "mcp.denied": AuditEvent.objects.filter(event_type="mcp.denied").count(),
    }
    connection.close()
    return counts


def print_report(report: dict[str, Any]) -> None:
    print(
        f"mixed load: {report['resources']:,} resources "
        f"({'with' if report['bill_loaded'] else 'no'} bill, {report['database']}), "
        f"{report['workers']} gunicorn uvicorn workers, {report['clients']} clients, "
        f"{report['seconds']:.0f} s; load average before {report['load_average']['before']}, "
        f"during {report['load_average']['during_min']}-{report['load_average']['during_max']} "
        f"(mean {report['load_average']['during_mean']}); {report['machine']}"
    )
    print(
        f"requests {report['requests']:,} ({report['mcp_calls']:,} MCP calls, "
        f"{report['page_requests']:,} pages): {report['throughput_per_s']} requests/s; "
        f"errors {report['errors']}"
    )
    print("| kind | requests | p50 | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [("MCP tools/call", report["mcp"]), ("dashboard pages", report["dashboard"])]
    rows += [(f"&nbsp;&nbsp;{name}", figures) for name, figures in report["by_name"].items()]
    for name, figures in rows:
        print(
            f"| {name} | {figures['count']:,} | {figures['p50_ms']:,.0f} ms | "
            f"{figures['p90_ms']:,.0f} ms | {figures['p99_ms']:,.0f} ms | "
            f"{figures['max_ms']:,.0f} ms |"
        )
    exact = report["audit_rows_added"] == report["mcp_calls"]
    print(
        f"audit rows added: {report['audit_rows_added']:,} "
        f"({report['mcp_call_audit_rows_added']:,} mcp.call, "
        f"{report['mcp_denied_audit_rows_added']:,} mcp.denied) for {report['mcp_calls']:,} MCP "
        f"calls and {report['page_requests']:,} page views "
        f"({'exactly one per MCP call, none per page' if exact else 'MISMATCH'})"
    )
    print("| worker pid | samples | first | last | max | trend | stable |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for pid, memory in report["memory"].items():
        print(
            f"| {pid} | {memory['samples']} | {memory['first_mb']} MB | {memory['last_mb']} MB | "
            f"{memory['max_mb']} MB | {memory['trend_mb_per_min']:+.3f} MB/min | "
            f"{'yes' if memory['stable'] else 'NO'} |"
        )
    for line in report["server_log_problems"]:
        print("  server log:", line, file=sys.stderr)
    for kind, count in sorted(report["errors_by_kind"].items(), key=lambda item: -item[1]):
        print(f"  errors: {count} x {kind}", file=sys.stderr)
    for error in report["error_samples"][:10]:
        print("  error:", error, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
