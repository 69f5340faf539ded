"""The bad-input corpus: shared estate, an in-process MCP client and the state snapshot.

Every case asserts the same three things: a clean refusal (a 4xx or a tool error, never a 500
or a leaked trace), the audit row of that refusal, and no state change. The MCP cases share one
committed estate per module and one application served in process on a long-lived event loop,
so hundreds of cases stay fast on PostgreSQL too (no per-case flush).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connections
from django.db.models import Max, Model
from django.test import override_settings
from django.utils import timezone

from compliance.models import (
    AccountAccess,
    AuditEvent,
    AwsAccount,
    BillingImport,
    CostLine,
    Exemption,
    Resource,
    Scan,
    TaggingPolicy,
)
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.accounts import do_add_account
from compliance.writes.keys import do_create_api_key
from compliance.writes.policy import do_import_policy
from mcp_endpoint.models import ApiKey
from tests.compliance.policies import TEST_POLICY

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
UNREGISTERED_ACCOUNT = "999999999999"
REGION = "eu-west-1"
OWN_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
OTHER_ARN = f"arn:aws:ec2:{REGION}:{OTHER_ACCOUNT}:instance/i-0fedcba9876543210"
PEER = "203.0.113.7"

#: Tables whose rows a refused input must leave exactly as they were.
GUARDED: tuple[type[Model], ...] = (
    Resource,
    TaggingPolicy,
    AwsAccount,
    ApiKey,
    Scan,
    BillingImport,
    CostLine,
    Exemption,
    AccountAccess,
    User,
)

#: What a response body must never carry: traces, source paths, SQL, driver names.
LEAKS = re.compile(
    r"Traceback|File \"|/work/|site-packages|\.py\b|SELECT |INSERT |UPDATE |psycopg|sqlite3?"
    r"|IntegrityError|OperationalError|DataError|ProgrammingError|Exception\(",
)


@dataclass(frozen=True)
class Snapshot:
    """Counts and latest ids of the guarded tables, and the last audit row id."""

    tables: dict[str, tuple[int, int | None]]
    last_audit_id: int

    @classmethod
    def take(cls) -> Snapshot:
        tables = {
            model.__name__: (
                model._default_manager.count(),
                model._default_manager.aggregate(latest=Max("pk"))["latest"],
            )
            for model in GUARDED
        }
        last = AuditEvent.objects.aggregate(latest=Max("pk"))["latest"] or 0
        return cls(tables=tables, last_audit_id=last)

    def new_audit_events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(pk__gt=self.last_audit_id).order_by("pk"))

    def assert_unchanged(self) -> list[AuditEvent]:
        """No guarded table changed; returns the audit rows written since (refusals only)."""
        after = Snapshot.take()
        assert after.tables == self.tables
        events = self.new_audit_events()
        assert all(e.outcome != AuditEvent.Outcome.SUCCESS for e in events), [
            (e.event_type, e.outcome) for e in events
        ]
        return events


def assert_no_leak(text: str) -> None:
    found = LEAKS.search(text)
    assert found is None, f"response leaks {found.group(0)!r}: {text[:300]}"


def assert_refusal_audited(
    events: list[AuditEvent], event_types: set[str], outcomes: frozenset[str] | None = None
) -> AuditEvent:
    wanted = outcomes or frozenset({AuditEvent.Outcome.DENIED, AuditEvent.Outcome.ERROR})
    matching = [e for e in events if e.event_type in event_types and e.outcome in wanted]
    assert matching, f"no {sorted(event_types)} refusal audited; got " + str(
        [(e.event_type, e.outcome) for e in events]
    )
    return matching[-1]


# --- the shared MCP estate ------------------------------------------------------------------


@dataclass
class Estate:
    """Two accounts, the test policy, one resource in each account, and people with keys."""

    alice: User
    bob: User
    charlie: User
    keys: dict[str, str] = field(default_factory=dict)


def _resource(account: AwsAccount, arn: str) -> Resource:
    now = timezone.now()
    return Resource.objects.create(
        arn=arn,
        account=account,
        region=REGION,
        resource_type="ec2:instance",
        name=arn.rsplit("/", 1)[-1],
        tags={"Owner": "someone@example.com"},
        first_seen_at=now,
        last_seen_at=now,
        is_compliant=False,
        violation_count=2,
    )


def _key(user: User, **options: Any) -> str:
    options.setdefault("name", "corpus key")
    _key_row, raw = do_create_api_key(user=user, acting=Operator(), **options)
    return raw


def build_estate() -> Estate:
    operator = Operator()
    account = do_add_account(account_id=ACCOUNT, name="prod", regions=[REGION], acting=operator)
    other = do_add_account(
        account_id=OTHER_ACCOUNT, name="bob's", regions=[REGION], acting=operator
    )
    do_import_policy(TEST_POLICY, source="corpus", acting=operator)
    _resource(account, OWN_ARN)
    _resource(other, OTHER_ARN)
    alice = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(alice, Role.ANALYST)
    AccountAccess.objects.create(user=alice, account=account)
    bob = User.objects.create_user("bob", "bob@example.com", "bob-password-123")
    assign_role(bob, Role.ANALYST)
    AccountAccess.objects.create(user=bob, account=other)
    charlie = User.objects.create_user(
        "charlie", "charlie@example.com", "charlie-password-123", is_staff=True
    )
    charlie.user_permissions.add(Permission.objects.get(codename="view_all_accounts"))
    assign_role(charlie, Role.ADMIN)
    estate = Estate(alice=alice, bob=bob, charlie=charlie)
    estate.keys["alice"] = _key(alice, scopes=["read", "scan"])
    estate.keys["alice_read"] = _key(alice, scopes=["read"], name="read only")
    estate.keys["expired"] = _key(alice, name="expired")
    ApiKey.objects.filter(prefix=estate.keys["expired"][:12]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    estate.keys["revoked"] = _key(alice, name="revoked")
    ApiKey.objects.filter(prefix=estate.keys["revoked"][:12]).update(revoked_at=timezone.now())
    inactive = User.objects.create_user("dave", "dave@example.com", "dave-password-1234")
    assign_role(inactive, Role.VIEWER)
    estate.keys["inactive_user"] = _key(inactive, name="inactive")
    User.objects.filter(pk=inactive.pk).update(is_active=False)
    return estate


def assert_test_database() -> None:
    """pytest-django creates the test database only when some collected test asks for ``db``:
    each module using :func:`estate` has one, and this makes sure nothing else is written."""
    name = str(connections["default"].settings_dict["NAME"])
    assert name.startswith("test_") or "memory" in name, name


@pytest.fixture(scope="module")
def estate(django_db_setup: None, django_db_blocker: Any) -> Iterator[Estate]:
    """Committed once per module (the MCP endpoint reads from its own threads), flushed after,
    as a transactional test would be."""
    with django_db_blocker.unblock():
        assert_test_database()
        try:
            yield build_estate()
        finally:
            connections.close_all()
            call_command("flush", verbosity=0, interactive=False)


# --- the in-process MCP client ----------------------------------------------------------------

MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-06-18",
}


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


class McpClient:
    """One application, its SDK session manager running on a long-lived event loop in a
    thread; each request is sent through an ASGI transport (no server, no socket)."""

    def __init__(self, portal: BlockingPortal, app: Any) -> None:
        self.portal = portal
        self.app = app

    async def _send(
        self, method: str, path: str, content: bytes, headers: dict[str, str], peer: str
    ) -> Reply:
        transport = httpx2.ASGITransport(app=self.app, client=(peer, 40000))
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000"
        ) as client:
            response = await client.request(method, path, content=content, headers=headers)
            return Reply(response.status_code, response.text, dict(response.headers))

    def request(
        self,
        body: bytes | str | Any,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        peer: str = PEER,
        method: str = "POST",
        path: str = "/mcp",
    ) -> Reply:
        if isinstance(body, str):
            content = body.encode("utf-8", "surrogatepass")
        elif isinstance(body, bytes):
            content = body
        else:
            content = json.dumps(body).encode()
        sent = dict(MCP_HEADERS)
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        sent.update(headers or {})
        return self.portal.call(self._send, method, path, content, sent, peer)


@pytest.fixture(scope="module")
def mcp(estate: Estate, django_db_blocker: Any) -> Iterator[McpClient]:
    from finops_site.asgi import build_application

    app = build_application()
    with (
        override_settings(**GENEROUS_LIMITS),
        django_db_blocker.unblock(),
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.mcp.server.session_manager.run()),
    ):
        yield McpClient(portal, app)


#: The corpus sends hundreds of calls per key: budgets are tested in tests/mcp_endpoint.
GENEROUS_LIMITS = {
    "MCP_RATE_LIMIT_PER_MINUTE": 100_000,
    "MCP_MAX_CALLS_PER_HOUR": 100_000,
    "MCP_MAX_IDENTICAL_CALLS": 100_000,
    "MCP_ALERT_AUTH_FAILURES": 100_000,
    "MCP_ALERT_UNKNOWN_TOOLS": 100_000,
    "MCP_ALERT_REFUSED_INPUTS": 100_000,
}


def rpc(method: str, params: Any = None, ident: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(name: str, arguments: Any = None) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": {} if arguments is None else arguments})
