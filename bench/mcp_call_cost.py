"""The server's own work for one MCP tools/call, in process: CPU and SQL statements.

End-to-end throughput on this 2-core virtual machine swings by 2x from one minute to the next
(docs/performance.md), so a change in the per-call work cannot be told from it. This measures
what the change controls: the database part of a call as the call gate runs it (lockdown,
permission, guards, the tool, its audit row), for the benchmark's key on the benchmark's estate,
as the thread's CPU time and the number of SQL statements, median of N calls per tool.

Seed first with ``bench.mcp_calls`` (same DATABASE_URL), then:

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mcp \\
    .venv/bin/python -m bench.mcp_call_cost --resources 100000 --calls 300
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

from bench.mcp_calls import BENCH_ENV, TOOL_ARGUMENTS, seed, setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    os.environ.update(BENCH_ENV)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from mcp_endpoint import keys, server
    from mcp_endpoint.principal import Caller

    raw = seed(args.resources)
    verdict = keys.verify(raw)
    assert verdict.key is not None, verdict
    for tool, arguments in TOOL_ARGUMENTS.items():
        cpu: list[float] = []
        statements: list[int] = []
        for _ in range(args.calls):
            caller = Caller.for_key(
                keys.verify(raw).key,  # type: ignore[arg-type]
                account_ids=verdict.account_ids,
                client_address="127.0.0.1",
                correlation_id=uuid.uuid4().hex,
            )
            call = server._Call(caller=caller, tool=tool, arguments=dict(arguments))
            call.spec, call.params = server._checked_input(call)
            reset_queries()  # the query log is a bounded deque: counts are wrong once it wraps
            started = time.thread_time()
            with CaptureQueriesContext(connection) as queries:
                result = server._serve_call(call)
            cpu.append((time.thread_time() - started) * 1000)
            statements.append(len(queries))
            assert not result.is_error, result.content
        print(
            f"{tool}: CPU median {statistics.median(cpu):.2f} ms "
            f"(p10 {statistics.quantiles(cpu, n=10)[0]:.2f}, "
            f"p90 {statistics.quantiles(cpu, n=10)[-1]:.2f}), "
            f"SQL statements median {statistics.median(statements):.0f} "
            f"(min {min(statements)}, max {max(statements)}), {args.calls} calls"
        )
    print(f"load average (1 min) at the end {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
