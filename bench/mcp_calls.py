"""MCP tools/call latency and throughput: gunicorn + uvicorn workers, concurrent clients.

Loads a synthetic estate (bench/synthetic.py) through the real scan pipeline once (skipped when
the database already holds a complete scan of that size), creates a user granted the account
and a fresh API key, starts ``gunicorn finops_site.asgi:application -k
uvicorn_worker.UvicornWorker`` on a free 127.0.0.1 port, and drives it with N concurrent
clients until M calls are done or the time limit passes, whichever comes first.

The load is raw JSON-RPC ``tools/call`` POSTs with httpx (one pooled async client, one
coroutine per simulated client): the endpoint is stateless with JSON responses, so a call is
exactly one POST, and measuring that POST is measuring what an assistant waits for. The SDK
client would add an ``initialize`` round trip and its own overhead per call to every sample, and
would make the client process (on the same 2 cores) the bottleneck instead of the server.

Every call must be answered 200 without a JSON-RPC or tool error, and the audit log must grow by
exactly one ``mcp.call`` row per call.

The per-call overhead is reported as counted, not guessed: the server's log lines per call
(``--log-level`` sets the server's ``LOG_LEVEL``, INFO by default as in production) and, with
``REDIS_URL`` set, the Redis commands per call (``INFO commandstats`` before and after).

The compliance summary is answered from the figures stored when the scan was finalised
(``compliance.stored.summary``); ``seed`` stores them for the loaded scan when it has none.

  createdb -h 127.0.0.1 -U postgres bench_mcp
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mcp REDIS_URL=redis://127.0.0.1:6379/3 \
    .venv/bin/python -m bench.mcp_calls --resources 100000 --clients 32 --calls 3000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "compliance" / "sample_data" / "sample_policy.yaml"
USERNAME = "bench-mcp"

#: Guard limits raised for the run (the guards still run and count on every call; they must
#: not refuse a deliberate load test). Everything else is the production configuration.
BENCH_ENV = {
    # Served over plain HTTP on 127.0.0.1, as the tests are (secure cookies would never return).
    "ALLOW_PLAIN_HTTP": "true",
    "MCP_RATE_LIMIT_PER_MINUTE": "1000000",
    "MCP_MAX_CALLS_PER_HOUR": "1000000",
    "MCP_MAX_IDENTICAL_CALLS": "1000000",
}


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
    import django

    django.setup()


def seed(size: int, *, username: str = USERNAME, scopes: tuple[str, ...] = ("read",)) -> str:
    """A scanned synthetic estate of ``size`` resources visible to ``username``; returns a new
    API key for that user. Django must be set up, with the target database configured."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from bench.scan_ingest import synthetic_inventory
    from bench.synthetic import ACCOUNT_ID
    from compliance import scans
    from compliance.models import (
        AccountAccess,
        AwsAccount,
        ComplianceSnapshot,
        Scan,
        TaggingPolicy,
    )
    from compliance.permissions.accounts import Operator
    from compliance.permissions.roles import Role, assign_role
    from compliance.stored.summary import store_figures
    from compliance.writes.accounts import do_add_account
    from compliance.writes.keys import do_create_api_key
    from compliance.writes.policy import do_import_policy
    from compliance.writes.scans import do_request_scan

    call_command("migrate", verbosity=0)
    operator = Operator()
    account = AwsAccount.objects.filter(account_id=ACCOUNT_ID).first()
    if account is None:
        account = do_add_account(account_id=ACCOUNT_ID, name="bench", acting=operator)
    if not TaggingPolicy.objects.exists():
        do_import_policy(SAMPLE.read_text(), acting=operator)
    last = Scan.objects.filter(status=Scan.Status.COMPLETE).order_by("-pk").first()
    if last is None or last.total_resources != size:
        scans.collect_inventory = synthetic_inventory(size, 1000)  # type: ignore[attr-defined]
        started = time.perf_counter()
        scan = scans.execute_scan(do_request_scan(acting=operator).pk)
        assert scan.status == Scan.Status.COMPLETE, scan.errors
        print(
            f"loaded {scan.total_resources:,} resources in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    last = Scan.objects.filter(status=Scan.Status.COMPLETE).order_by("-pk").first()
    assert last is not None
    assert last.finished_at is not None
    if not ComplianceSnapshot.objects.filter(
        scan=last, dimension=ComplianceSnapshot.Dimension.VIOLATION_TYPE
    ).exists():
        store_figures(last, last.finished_at)
    if connection.vendor == "postgresql":
        # Fresh planner statistics, as autovacuum would have them in steady state after a big
        # scan (without them the planner takes 100,000 rows for one).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    user, _ = get_user_model().objects.get_or_create(username=username)
    # Reading takes a role that reads; an analyst's keys may also hold `scan`.
    assign_role(user, Role.ANALYST)
    AccountAccess.objects.get_or_create(user=user, account=account)
    _key, raw = do_create_api_key(
        user=user, name="bench", scopes=list(scopes), acting=operator, interface="cli"
    )
    return raw


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(
    port: int, workers: int, env: dict[str, str], log: Any
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "finops_site.asgi:application",
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "-k",
            "uvicorn_worker.UvicornWorker",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stderr=log,
        start_new_session=True,
    )


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx2 as httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


#: The calls, in turn. ``check_tag_compliance`` (summary + a page of 50 violations) is the
#: heaviest read an assistant makes first; ``list_scans`` is a light one.
TOOL_ARGUMENTS: dict[str, dict[str, Any]] = {
    "check_tag_compliance": {"limit": 50},
    "list_scans": {"limit": 20},
}
CALLS = tuple(TOOL_ARGUMENTS.items())


#: Seconds a client keeps an idle connection. Below the server's keep-alive (gunicorn's default,
#: 2 s): a connection reused just as the server closes it fails with a read error that no
#: server work caused, a race every HTTP client avoids this way.
KEEPALIVE_EXPIRY = 1.0


def mcp_headers(key: str) -> dict[str, str]:
    """What an MCP client sends with every call to the stateless endpoint."""
    return {
        "authorization": f"Bearer {key}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2025-06-18",
    }


async def call_tool(
    client: Any, url: str, request_id: int, name: str, arguments: dict[str, Any]
) -> tuple[float, str | None]:
    """One ``tools/call`` POST: its latency, and what went wrong (``None`` when answered 200
    without a JSON-RPC or tool error)."""
    import httpx2 as httpx

    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    sent = time.perf_counter()
    try:
        response = await client.post(url, content=json.dumps(body))
        elapsed = time.perf_counter() - sent
        answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return time.perf_counter() - sent, f"{name}: {type(exc).__name__}: {exc}"
    if answer is None:
        return elapsed, f"{name}: HTTP {response.status_code} {response.text[:200]}"
    if "error" in answer or answer.get("result", {}).get("isError"):
        return elapsed, f"{name}: {json.dumps(answer)[:300]}"
    return elapsed, None


async def drive(
    url: str,
    key: str,
    *,
    clients: int,
    calls: int,
    seconds: float,
    tools: tuple[tuple[str, dict[str, Any]], ...] = CALLS,
) -> tuple[list[float], list[str], float, dict[str, list[float]]]:
    import httpx2 as httpx

    counter = itertools.count()
    latencies: list[float] = []
    per_tool: dict[str, list[float]] = {name: [] for name, _ in tools}
    errors: list[str] = []
    limits = httpx.Limits(
        max_connections=clients,
        max_keepalive_connections=clients,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    async with httpx.AsyncClient(headers=mcp_headers(key), limits=limits, timeout=30) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def one_client() -> None:
            while time.perf_counter() < deadline:
                index = next(counter)
                if index >= calls:
                    return
                name, arguments = tools[index % len(tools)]
                elapsed, error = await call_tool(client, url, index, name, arguments)
                if error:
                    errors.append(error)
                else:
                    latencies.append(elapsed)
                    per_tool[name].append(elapsed)

        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, errors, wall, per_tool


def redis_commands() -> dict[str, int]:
    """Calls per Redis command since the server started (empty without ``REDIS_URL``)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return {}
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


def log_lines(path: Path) -> int:
    with path.open("rb") as log:
        return sum(1 for _line in log)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--tools",
        default=",".join(TOOL_ARGUMENTS),
        help=f"comma-separated, of {list(TOOL_ARGUMENTS)}",
    )
    parser.add_argument("--warmup", type=int, default=32, help="calls before measuring")
    parser.add_argument(
        "--log-level", default="", help="the server's LOG_LEVEL (default: as configured, INFO)"
    )
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print(
            "warning: DATABASE_URL is not PostgreSQL; the target is for PostgreSQL", file=sys.stderr
        )
    tools = tuple((name, TOOL_ARGUMENTS[name]) for name in args.tools.split(","))
    os.environ.update(BENCH_ENV)
    setup_django()
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # the client's own per-request lines
    from django.db import connection

    from compliance.models import AuditEvent, Resource

    key = seed(args.resources)
    resources = Resource.objects.count()
    connection.close()

    port = free_port()
    env = {**os.environ, **BENCH_ENV}
    if args.log_level:
        env["LOG_LEVEL"] = args.log_level
    server_log = Path(tempfile.mkstemp(prefix="bench-mcp-", suffix=".log")[1])
    with server_log.open("wb") as log:
        server = start_gunicorn(port, args.workers, env, log)
    try:
        wait_ready(port, server)
        url = f"http://127.0.0.1:{port}/mcp"
        if args.warmup:
            _l, warm_errors, _w, _p = asyncio.run(
                drive(url, key, clients=args.clients, calls=args.warmup, seconds=30, tools=tools)
            )
            if warm_errors:
                print("warm-up errors:", *warm_errors[:5], sep="\n  ", file=sys.stderr)
        audit_before = AuditEvent.objects.filter(event_type="mcp.call").count()
        connection.close()
        lines_before, redis_before = log_lines(server_log), redis_commands()
        latencies, errors, wall, per_tool = asyncio.run(
            drive(
                url, key, clients=args.clients, calls=args.calls, seconds=args.seconds, tools=tools
            )
        )
        time.sleep(0.5)  # the last audit rows are committed before the responses; be generous
        audit_after = AuditEvent.objects.filter(event_type="mcp.call").count()
        lines_after, redis_after = log_lines(server_log), redis_commands()
    finally:
        stop(server)
        server_log.unlink()

    done = len(latencies) + len(errors)
    audit_rows = audit_after - audit_before
    ms = 1000.0
    print(
        f"MCP tools/call: {resources:,} resources ({connection.vendor}), {args.workers} gunicorn "
        f"uvicorn workers, {args.clients} concurrent clients, "
        f"REDIS_URL {'set' if os.environ.get('REDIS_URL') else 'unset'}"
    )
    print(
        f"calls {done:,} in {wall:.1f} s: {done / wall:,.0f} calls/s; "
        f"p50 {percentile(latencies, 0.5) * ms:.1f} ms, "
        f"p90 {percentile(latencies, 0.9) * ms:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * ms:.1f} ms, "
        f"max {max(latencies, default=0) * ms:.1f} ms; "
        f"errors {len(errors)}"
    )
    for name, values in per_tool.items():
        if values:
            print(
                f"  {name}: {len(values):,} calls, p50 {percentile(values, 0.5) * ms:.1f} ms, "
                f"p99 {percentile(values, 0.99) * ms:.1f} ms, "
                f"mean {statistics.fmean(values) * ms:.1f} ms"
            )
    print(
        f"audit rows (mcp.call) added: {audit_rows:,} for {done:,} calls "
        f"({'one per call' if audit_rows == done else 'MISMATCH'})"
    )
    print(
        f"server log lines per call: {(lines_after - lines_before) / max(done, 1):.2f} "
        f"(LOG_LEVEL {env.get('LOG_LEVEL', 'INFO')})"
    )
    if redis_after:
        used = {
            name: redis_after[name] - redis_before.get(name, 0)
            for name in redis_after
            if redis_after[name] != redis_before.get(name, 0)
        }
        print(
            f"Redis commands per call: {sum(used.values()) / max(done, 1):.2f} ("
            + ", ".join(f"{name} {n / max(done, 1):.2f}" for name, n in sorted(used.items()))
            + ")"
        )
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, load average (1 min) at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    for error in errors[:10]:
        print("  error:", error, file=sys.stderr)
    return 0 if not errors and audit_rows == done else 1


if __name__ == "__main__":
    sys.exit(main())
