"""The site served as in production, for tests that must talk to a real server.

gunicorn with the uvicorn worker and ``gunicorn.conf.py`` (as ``make run`` starts it), DEBUG
off, over a SQLite file in a directory of the test's own, on a free port of 127.0.0.1; stopped
with its whole process group when the test is done. Plain HTTP is asked for by name, as the
demo does: nothing here terminates TLS.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).parent / "gunicorn"
STARTUP_SECONDS = 60
#: Settings of the test process that must not leak into the served site.
NOT_INHERITED = (
    "DJANGO_",
    "DATABASE_",
    "REDIS_",
    "OIDC_",
    "SAML_",
    "SSO_",
    "AWS_",
    "MCP_",
    "SECURE_",
    "SESSION_",
    "TRUSTED_PROXY_CIDRS",
    "ALLOW_PLAIN_HTTP",
    "FORWARDED_ALLOW_IPS",
    "GUNICORN_CMD_ARGS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_environment(
    workdir: Path, settings: Mapping[str, str] | None = None, *, plain_http: bool = True
) -> dict[str, str]:
    """The environment of a site of its own in ``workdir``, with ``settings`` on top.

    ``plain_http=False`` leaves HTTPS on (the production default), for tests of it.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "finops_site.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        **({"ALLOW_PLAIN_HTTP": "true"} if plain_http else {}),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "DATA_DIR": str(workdir),
        # Never a real AWS account: no profile or credentials file is read.
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "PYTHONPATH": str(ROOT),
        **(settings or {}),
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and every process it started (gunicorn's workers)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def log_text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def start_gunicorn(
    env: Mapping[str, str], log: Path, *, workers: int = 2
) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn started and answering ``/health/live``; its process and base URL.

    The caller stops it with :func:`stop` (or uses :func:`gunicorn`).
    """
    port = free_port()
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 (a fixed command)
            [
                str(GUNICORN),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "finops_site.asgi:application",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
            ],
            cwd=ROOT,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base_url}/health/live", process, log)
    except BaseException:
        stop(process)
        raise
    return process, base_url


@contextmanager
def gunicorn(env: Mapping[str, str], log: Path, *, workers: int = 2) -> Iterator[str]:
    """The site under gunicorn for the duration of the block; yields its base URL."""
    process, base_url = start_gunicorn(env, log, workers=workers)
    try:
        yield base_url
    finally:
        stop(process)


def run_python(env: Mapping[str, str], *args: str, timeout: int = 300) -> None:
    """``python args...`` in the site's environment (migrate, seeding); fails with its output."""
    done = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_text(log)}")
        try:
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url}:\n{log_text(log)}")
