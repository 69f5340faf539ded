"""Fixtures for the MCP endpoint: a scanned estate in moto, keys, and the ASGI app served for
real (uvicorn in a thread) or in process (httpx over ASGI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import uvicorn
from django.contrib.auth.models import User

from compliance.models import AwsAccount, Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.accounts import do_add_account
from compliance.writes.keys import do_create_api_key
from compliance.writes.policy import do_import_policy
from tests.compliance.policies import TEST_POLICY
from tests.compliance.test_scans import ACCOUNT, REGIONS, Estate, scan_now
from tests.conftest import grant

OTHER_ACCOUNT = "210987654321"


@dataclass
class Accounts:
    account: AwsAccount
    other_account: AwsAccount


@dataclass
class ScannedEstate:
    estate: Estate
    scan: Scan
    account: AwsAccount
    other_account: AwsAccount


@pytest.fixture
def accounts(transactional_db: None) -> Accounts:
    """Two registered accounts and the test policy, nothing scanned (cheap)."""
    operator = Operator()
    account = do_add_account(account_id=ACCOUNT, name="prod", regions=REGIONS, acting=operator)
    other = do_add_account(account_id=OTHER_ACCOUNT, name="bob's", regions=REGIONS, acting=operator)
    do_import_policy(TEST_POLICY, acting=operator)
    return Accounts(account=account, other_account=other)


@pytest.fixture
def scanned(accounts: Accounts, mocked_aws: None) -> ScannedEstate:
    """The estate of tests/compliance/test_scans.py in moto, scanned once."""
    estate = Estate()
    scan = scan_now(account_ids=[ACCOUNT])
    return ScannedEstate(
        estate=estate, scan=scan, account=accounts.account, other_account=accounts.other_account
    )


@pytest.fixture
def alice_t(accounts: Accounts) -> User:
    """alice, an analyst granted the first account only."""
    user = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(user, Role.ANALYST)
    grant(user, accounts.account)
    return user


@pytest.fixture
def bob_t(accounts: Accounts) -> User:
    """bob, an analyst granted only the other account."""
    user = User.objects.create_user("bob", "bob@example.com", "bob-password-123")
    assign_role(user, Role.ANALYST)
    grant(user, accounts.other_account)
    return user


def make_key(user: User, **options: Any) -> str:
    options.setdefault("name", "test key")
    _key, raw = do_create_api_key(user=user, acting=Operator(), **options)
    return raw


@pytest.fixture
def alice_key(alice_t: User) -> str:
    return make_key(alice_t, scopes=["read", "scan"])


@pytest.fixture
def live_mcp(transactional_db: None) -> Iterator[str]:
    """The real ASGI application served by uvicorn on a free port, for the SDK client."""
    from finops_site.asgi import build_application

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # No forwarded header is believed, as in production without TRUSTED_PROXY_CIDRS (uvicorn's
    # own default would believe them from 127.0.0.1).
    config = uvicorn.Config(
        build_application(), lifespan="on", log_level="warning", forwarded_allow_ips=""
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@asynccontextmanager
async def asgi_client(
    peer: str = "203.0.113.7", headers: dict[str, str] | None = None
) -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client talking to a fresh application in process, its lifespan running."""
    from finops_site.asgi import build_application

    app = build_application()
    transport = httpx2.ASGITransport(app=app, client=(peer, 40000))
    async with (
        app.mcp.server.session_manager.run(),
        httpx2.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000", headers=headers
        ) as client,
    ):
        yield client


def rpc(method: str, params: dict[str, Any] | None = None, ident: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}}


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments or {}})


MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-06-18",
}
