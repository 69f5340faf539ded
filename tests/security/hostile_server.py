"""The production server for the hostile corpus: seeded, started, inspected and stopped.

gunicorn with the uvicorn worker and two workers, as ``make run`` serves it (tests/servers.py),
DEBUG off, on a free 127.0.0.1 port, over a SQLite database in a temp dir seeded in a child
process (so the test process never holds that database's Django state). The OAuth authorization
server is on (an RSA signing key), with dynamic client registration and client ID metadata
documents, so that its self-registration paths face the corpus too.

The database is read with :mod:`sqlite3` from outside: the state of every table (a digest of
its rows), and the audit rows each request adds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from tests.servers import gunicorn, run_python, site_environment

#: Tables whose changes are not state: sessions come and go with every browser, and the
#: guards' counters (rate limits, budgets, loop detection) and the shared cache count every
#: request, refused ones included, by design.
NOT_STATE = frozenset({"django_session", "mcp_endpoint_guardcounter", "shared_cache"})
AUDIT_TABLE = "compliance_auditevent"
#: Columns that are bookkeeping, not state: when and from where a key was last presented.
NOT_STATE_COLUMNS = {"mcp_endpoint_apikey": frozenset({"last_used_at", "last_used_from"})}

#: The limits a real assistant meets are tested in tests/mcp_endpoint; the corpus sends
#: hundreds of calls per key and must see every refusal for what it is, not a budget 429.
GENEROUS = {
    "MCP_RATE_LIMIT_PER_MINUTE": "100000",
    "MCP_MAX_CALLS_PER_HOUR": "100000",
    "MCP_MAX_IDENTICAL_CALLS": "100000",
    "MCP_ALERT_AUTH_FAILURES": "100000",
    "MCP_ALERT_UNKNOWN_TOOLS": "100000",
    "MCP_ALERT_REFUSED_INPUTS": "100000",
    "MCP_ALERT_BUDGET_EXHAUSTED": "100000",
    # Each failed sign-in must be seen as such, not as the limit's refusal (allauth's limit
    # on all sign-in attempts, 30 a minute per address, still applies: the corpus stays below).
    "LOGIN_FAILED_RATE_LIMIT": "100000/m/ip,100000/5m/key",
}


@dataclass(frozen=True)
class AuditRow:
    pk: int
    event_type: str
    outcome: str
    interface: str
    detail: dict[str, Any]


class Database:
    """The server's SQLite file, read from outside the server."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=20)

    def state(self) -> dict[str, str]:
        """A digest of every row of every table but the audit log and the sessions."""
        with self._connect() as db:
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            digests = {}
            for table in tables:
                if table in NOT_STATE or table == AUDIT_TABLE:
                    continue
                skipped = NOT_STATE_COLUMNS.get(table, frozenset())
                columns = [
                    f'"{column}"'
                    for (_cid, column, *_rest) in db.execute(f'PRAGMA table_info("{table}")')
                    if column not in skipped
                ]
                digest = hashlib.sha256()
                query = f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY 1'  # noqa: S608
                for row in db.execute(query):
                    digest.update(repr(row).encode("utf-8", "backslashreplace"))
                digests[table] = digest.hexdigest()
            return digests

    def last_audit_id(self) -> int:
        with self._connect() as db:
            (last,) = db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {AUDIT_TABLE}").fetchone()  # noqa: S608
            return int(last)

    def audit_since(self, last: int) -> list[AuditRow]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, event_type, outcome, interface, detail "  # noqa: S608
                f"FROM {AUDIT_TABLE} WHERE id > ? ORDER BY id",
                (last,),
            ).fetchall()
        return [
            AuditRow(pk, event, outcome, interface, json.loads(detail or "{}"))
            for pk, event, outcome, interface, detail in rows
        ]


class Listener:
    """A TCP socket on 127.0.0.1 (and ::1 where the host has it) that counts connections:
    the server must never call it, whatever URL a client hands over."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        first = socket.create_server(("127.0.0.1", 0))
        self.port = int(first.getsockname()[1])
        self._sockets.append(first)
        # Where the host has no IPv6 loopback, the [::1] spellings reach nothing at all.
        with contextlib.suppress(OSError):
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        for sock in self._sockets:
            sock.settimeout(0.2)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                connection, address = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(str(address[0]))
            connection.close()

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            sock.close()


@dataclass
class Server:
    base_url: str
    database: Database
    facts: dict[str, Any]
    log: Path

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base_url, timeout=30, follow_redirects=False)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def server_environment(workdir: Path) -> dict[str, str]:
    from mcp_endpoint.oauth.signing_key import new_private_key

    return site_environment(
        workdir,
        {
            **GENEROUS,
            "OIDC_IDP_PRIVATE_KEY": new_private_key(),
            "MCP_OAUTH_DCR_ENABLED": "true",
            "MCP_OAUTH_CIMD_ENABLED": "true",
        },
    )


@contextmanager
def running_server(workdir: Path) -> Iterator[Server]:
    env = server_environment(workdir)
    facts_file = workdir / "facts.json"
    run_python(env, "-m", "tests.security.hostile_server", str(facts_file))
    log = workdir / "server.log"
    with gunicorn(env, log, workers=2) as base_url:
        yield Server(
            base_url=base_url,
            database=Database(workdir / "db.sqlite3"),
            facts=json.loads(facts_file.read_text(encoding="utf-8")),
            log=log,
        )


# --- the seed, run in a child process with the server's environment ---------------------------

#: A tag value only the other account's resource carries: no response to anyone without that
#: account may contain it.
OTHER_SECRET = "owner-of-the-other-account@example.org"
#: A confidential OAuth client registered by an admin, for the token endpoint's refusals.
OAUTH_CLIENT_ID = "corpus-confidential"
OAUTH_REDIRECT_URI = "http://127.0.0.1:33418/callback"


def seed(facts_file: Path) -> None:
    """The shared bad-input estate (tests/security/conftest.py), with one person per role,
    each with a TOTP authenticator, a finished scan, and an OAuth client."""
    import django

    django.setup()
    from allauth.idp.oidc.models import Client
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.core.management import call_command
    from django.utils import timezone

    from compliance.models import Resource, Scan
    from compliance.permissions.roles import Role, assign_role
    from tests.security.conftest import OTHER_ARN, OWN_ARN, build_estate

    call_command("migrate", verbosity=0)
    estate = build_estate()
    # One person per role: bob (viewer, the other account), alice (analyst), charlie (admin).
    assign_role(estate.bob, Role.VIEWER)
    Resource.objects.filter(arn=OTHER_ARN).update(tags={"Owner": OTHER_SECRET})
    totp = {}
    for user in (estate.alice, estate.bob, estate.charlie):
        totp[user.username] = generate_totp_secret()
        TOTP.activate(user, totp[user.username])
    now = timezone.now()
    scan = Scan.objects.create(
        status=Scan.Status.COMPLETE, started_at=now, finished_at=now, trigger="cli"
    )
    client_secret = secrets.token_urlsafe(32)
    client = Client(id=OAUTH_CLIENT_ID, name="Corpus client", secret=client_secret)
    client.set_scopes(["openid", "read"])
    client.set_redirect_uris([OAUTH_REDIRECT_URI])
    client.set_grant_types(["authorization_code", "refresh_token"])
    client.save()
    facts = {
        "keys": estate.keys,
        "totp": totp,
        "passwords": {
            "alice": "alice-password-123",
            "bob": "bob-password-123",
            "charlie": "charlie-password-123",
        },
        "own_resource": Resource.objects.get(arn=OWN_ARN).pk,
        "other_resource": Resource.objects.get(arn=OTHER_ARN).pk,
        "scan": scan.pk,
        "oauth_client_secret": client_secret,
    }
    facts_file.write_text(json.dumps(facts), encoding="utf-8")


if __name__ == "__main__":
    seed(Path(sys.argv[1]))
