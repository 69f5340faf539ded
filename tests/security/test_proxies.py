"""Forwarded headers against the real server: believed only from ``TRUSTED_PROXY_CIDRS``.

Each server is started as ``make run`` starts it (``gunicorn -c gunicorn.conf.py`` with the
uvicorn worker) on a free 127.0.0.1 port, over a SQLite database in a temp dir, and stopped
after its tests. The test client is 127.0.0.1: an untrusted peer when no proxy is configured or
when the trusted proxies are elsewhere, the trusted proxy itself with ``127.0.0.1/32``.
The audit log is read with :mod:`sqlite3` from outside the server.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from compliance.web import network
from tests.servers import ROOT, free_port, run_python, site_environment, start_gunicorn, stop

pytestmark = [pytest.mark.slow, pytest.mark.own_server]

STARTUP_SECONDS = 60
HSTS = "Strict-Transport-Security"
#: Failed sign-ins allowed per client address per minute on the servers below.
FAILED_SIGN_INS_PER_MINUTE = 3
#: Addresses from the documentation ranges (RFC 5737), as a client would spoof them.
SPOOFED = [f"203.0.113.{n}" for n in range(1, 20)]


@dataclass(frozen=True)
class Server:
    base_url: str
    database: Path

    def audit_rows(self) -> list[tuple[int, str, str | None]]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(
                "SELECT id, event_type, client_address FROM compliance_auditevent ORDER BY id"
            ).fetchall()


def _environment(workdir: Path, settings: dict[str, str]) -> dict[str, str]:
    """A site of its own with nothing about HTTP or proxies inherited, then ``settings``."""
    return site_environment(
        workdir,
        {"LOGIN_FAILED_RATE_LIMIT": f"{FAILED_SIGN_INS_PER_MINUTE}/m/ip", **settings},
        plain_http=False,
    )


@pytest.fixture(scope="module")
def start_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[dict[str, str]], Server]]:
    """Starts servers for this module's tests and stops each of them afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(settings: dict[str, str]) -> Server:
        workdir = tmp_path_factory.mktemp("proxies")
        env = _environment(workdir, settings)
        run_python(env, "manage.py", "migrate", "--verbosity", "0")
        # One worker: each failed sign-in is counted by the one process that refused it.
        process, base_url = start_gunicorn(env, workdir / "server.log", workers=1)
        started.append(process)
        return Server(base_url, workdir / "db.sqlite3")

    yield start
    for process in started:
        stop(process)


#: Plain HTTP asked for (the client speaks it) but HSTS configured: were a spoofed
#: ``X-Forwarded-Proto: https`` believed, the answer would carry HSTS.
UNTRUSTED_PEER = {
    "no proxy configured": {"ALLOW_PLAIN_HTTP": "true", "SECURE_HSTS_SECONDS": "31536000"},
    "proxies elsewhere": {
        "ALLOW_PLAIN_HTTP": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "TRUSTED_PROXY_CIDRS": "10.0.0.0/8",
    },
}


@pytest.fixture(scope="module", params=list(UNTRUSTED_PEER), ids=list(UNTRUSTED_PEER))
def untrusted(
    request: pytest.FixtureRequest, start_server: Callable[[dict[str, str]], Server]
) -> Server:
    """A server to which the test client (127.0.0.1) is not a trusted proxy."""
    return start_server(UNTRUSTED_PEER[request.param])


@pytest.fixture(scope="module")
def behind_proxy(start_server: Callable[[dict[str, str]], Server]) -> Server:
    """A server whose trusted proxy is the test client, with every other setting at its
    production default (HTTPS: redirect, HSTS, Secure cookies)."""
    return start_server({"TRUSTED_PROXY_CIDRS": "127.0.0.1/32"})


def _failed_sign_in(client: httpx2.Client, server: Server, n: int, spoofed: str) -> str:
    """One wrong password for a new username (so only the per-address limit can apply), from a
    client claiming to be ``spoofed``; the page answered."""
    form = client.get(f"{server.base_url}/accounts/login/", headers={"X-Forwarded-For": spoofed})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None, form.text
    answer = client.post(
        f"{server.base_url}/accounts/login/",
        data={
            "login": f"nobody{n}",
            "password": "wrong-password-123",
            "csrfmiddlewaretoken": token.group(1),
        },
        headers={"X-Forwarded-For": spoofed, "Referer": f"{server.base_url}/accounts/login/"},
    )
    assert answer.status_code < 500
    return answer.text


LIMITED = "Too many failed login attempts"


# --- From an untrusted peer, forwarded headers change nothing -------------------------------


def test_rotating_x_forwarded_for_does_not_escape_the_sign_in_limit(untrusted: Server) -> None:
    with httpx2.Client() as client:
        pages = [
            _failed_sign_in(client, untrusted, n, SPOOFED[n])
            for n in range(FAILED_SIGN_INS_PER_MINUTE + 1)
        ]
    assert [LIMITED in page for page in pages] == [False] * FAILED_SIGN_INS_PER_MINUTE + [True]


def test_the_audit_log_records_the_peer_not_the_spoofed_address(untrusted: Server) -> None:
    before = {row[0] for row in untrusted.audit_rows()}
    answer = httpx2.post(
        f"{untrusted.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": "Bearer not-a-key",
            "Accept": "application/json, text/event-stream",
            "X-Forwarded-For": "198.51.100.23",
            "X-Real-IP": "198.51.100.24",
            "Forwarded": "for=198.51.100.25;proto=https",
        },
    )
    assert answer.status_code == 401
    added = [row for row in untrusted.audit_rows() if row[0] not in before]
    assert added, "the refused key was not audited"
    assert {address for _, _, address in added} == {"127.0.0.1"}


def test_x_forwarded_proto_https_does_not_make_a_request_secure(untrusted: Server) -> None:
    claims_https = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"}
    page = httpx2.get(f"{untrusted.base_url}/accounts/login/", headers=claims_https)
    assert page.status_code == 200
    assert HSTS not in page.headers
    assert "secure" not in page.headers.get("set-cookie", "").lower()


def test_x_forwarded_proto_https_does_not_change_the_oauth_resource_metadata(
    untrusted: Server,
) -> None:
    document = httpx2.get(
        f"{untrusted.base_url}/.well-known/oauth-protected-resource/mcp",
        headers={"X-Forwarded-Proto": "https"},
    )
    assert document.status_code == 200
    assert document.json()["resource"] == f"{untrusted.base_url}/mcp"


def test_x_forwarded_proto_https_does_not_change_the_mcp_challenge(untrusted: Server) -> None:
    answer = httpx2.post(
        f"{untrusted.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream", "X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 401
    metadata = f"{untrusted.base_url}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata}"' in answer.headers["www-authenticate"]


# --- Behind a trusted proxy, its headers count ----------------------------------------------


def test_an_https_request_from_the_proxy_is_served_with_hsts(behind_proxy: Server) -> None:
    page = httpx2.get(
        f"{behind_proxy.base_url}/accounts/login/", headers={"X-Forwarded-Proto": "https"}
    )
    assert page.status_code == 200
    assert page.headers[HSTS] == "max-age=31536000; includeSubDomains; preload"


def test_a_plain_request_from_the_proxy_is_redirected_once(behind_proxy: Server) -> None:
    plain = httpx2.get(f"{behind_proxy.base_url}/accounts/login/?next=/")
    assert plain.status_code == 301
    location = plain.headers["location"]
    assert location == behind_proxy.base_url.replace("http:", "https:") + "/accounts/login/?next=/"
    # The proxy serves that address over TLS and forwards it marked https: no second redirect.
    followed = httpx2.get(
        location.replace("https:", "http:", 1), headers={"X-Forwarded-Proto": "https"}
    )
    assert followed.status_code == 200


def test_load_balancer_health_probes_are_not_redirected(behind_proxy: Server) -> None:
    for path in ("/health/live", "/health/ready"):
        answer = httpx2.get(f"{behind_proxy.base_url}{path}")
        assert (path, answer.status_code) == (path, 200)


def test_the_oauth_resource_metadata_says_https_behind_the_proxy(behind_proxy: Server) -> None:
    document = httpx2.get(
        f"{behind_proxy.base_url}/.well-known/oauth-protected-resource/mcp",
        headers={"X-Forwarded-Proto": "https"},
    )
    https_url = behind_proxy.base_url.replace("http:", "https:")
    assert document.json()["resource"] == f"{https_url}/mcp"


def test_the_client_address_comes_from_the_proxy(behind_proxy: Server) -> None:
    before = {row[0] for row in behind_proxy.audit_rows()}
    answer = httpx2.post(
        f"{behind_proxy.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={
            "Authorization": "Bearer not-a-key",
            "Accept": "application/json, text/event-stream",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "198.51.100.23",
        },
    )
    assert answer.status_code == 401
    added = [row for row in behind_proxy.audit_rows() if row[0] not in before]
    assert {address for _, _, address in added} == {"198.51.100.23"}


# --- The ASGI server's setting comes from TRUSTED_PROXY_CIDRS --------------------------------


def gunicorn_setting(name: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``name`` as gunicorn reads it with gunicorn.conf.py, in an environment of ``variables``."""
    code = (
        "import sys; from gunicorn.app.wsgiapp import WSGIApplication; "
        "sys.argv = ['gunicorn', '-c', sys.argv[1], 'finops_site.asgi:application']; "
        f"print(WSGIApplication().cfg.{name})"
    )
    return subprocess.run(  # noqa: S603 (a fixed command)
        [sys.executable, "-c", code, str(ROOT / "gunicorn.conf.py")],
        cwd="/",
        env={"PATH": os.environ.get("PATH", ""), **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gunicorn_trusts_no_peer_by_default() -> None:
    result = gunicorn_setting("forwarded_allow_ips")
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


def test_gunicorn_trusts_exactly_the_trusted_proxy_networks() -> None:
    result = gunicorn_setting("forwarded_allow_ips", TRUSTED_PROXY_CIDRS="10.1.2.3/16, fd00::/8")
    assert (result.returncode, result.stdout.strip()) == (0, "['10.1.0.0/16', 'fd00::/8']")


def test_gunicorn_refuses_a_second_list_of_trusted_peers() -> None:
    result = gunicorn_setting("forwarded_allow_ips", FORWARDED_ALLOW_IPS="127.0.0.1")
    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS: not used; list the proxies in TRUSTED_PROXY_CIDRS" in (
        result.stderr
    )


def test_gunicorn_refuses_a_malformed_proxy_network() -> None:
    result = gunicorn_setting("forwarded_allow_ips", TRUSTED_PROXY_CIDRS="10.0.0.0/8,banana")
    assert result.returncode != 0
    assert "TRUSTED_PROXY_CIDRS: 'banana' is not an IP network" in result.stderr


def test_gunicorn_terminates_tls_when_given_a_certificate() -> None:
    result = gunicorn_setting(
        "certfile", SERVER_TLS_CERT_FILE="/tls/cert.pem", SERVER_TLS_KEY_FILE="/tls/key.pem"
    )
    assert (result.returncode, result.stdout.strip()) == (0, "/tls/cert.pem"), result.stderr


def test_forwarded_allow_ips_is_written_as_gunicorn_accepts_it() -> None:
    import ipaddress

    networks = [ipaddress.ip_network("10.1.2.3/16", strict=False), ipaddress.ip_network("::1")]
    assert network.forwarded_allow_ips(networks) == "10.1.0.0/16,::1/128"
    assert network.forwarded_allow_ips([]) == ""


# --- Any other way a request reaches Django (WSGI, the test client) -------------------------


@pytest.mark.parametrize(
    ("peer", "believed"), [("127.0.0.1", False), ("203.0.113.9", False), ("10.0.0.5", True)]
)
def test_django_believes_x_forwarded_proto_only_from_a_trusted_proxy(
    db: None, peer: str, believed: bool
) -> None:
    import ipaddress

    from django.test import Client, override_settings

    with override_settings(
        TRUSTED_PROXY_CIDRS=[ipaddress.ip_network("10.0.0.0/8")],
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        SECURE_SSL_REDIRECT=True,
        SECURE_HSTS_SECONDS=31536000,
    ):
        page = Client(REMOTE_ADDR=peer).get(
            "/accounts/login/", headers={"X-Forwarded-Proto": "https"}
        )
    # Believed: served, with HSTS. Not believed: the request is plain, redirected to HTTPS.
    assert (page.status_code, HSTS in page.headers) == ((200, True) if believed else (301, False))


# --- The demo: plain HTTP asked for by the command itself, no forwarded header believed -------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``manage.py demo`` as a person runs it: debug off, nothing about HTTP in the environment."""
    workdir = tmp_path_factory.mktemp("demo")
    env = _environment(workdir, {})
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "LOGIN_FAILED_RATE_LIMIT"):
        env.pop(name)
    port = free_port()
    log = workdir / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (a fixed command)
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 4 * STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the demo exited:\n{log.read_text()}")
            try:
                if httpx2.get(f"{base_url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the demo did not answer:\n{log.read_text()}")
        yield base_url
    finally:
        stop(process)


def test_the_demo_serves_plain_http_and_believes_no_forwarded_header(demo: str) -> None:
    page = httpx2.get(
        f"{demo}/accounts/login/",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.23"},
    )
    assert page.status_code == 200
    assert HSTS not in page.headers
    assert "secure" not in page.headers.get("set-cookie", "").lower()
    document = httpx2.get(
        f"{demo}/.well-known/oauth-protected-resource/mcp", headers={"X-Forwarded-Proto": "https"}
    )
    assert document.json()["resource"] == f"{demo}/mcp"
