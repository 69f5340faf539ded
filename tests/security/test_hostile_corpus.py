"""The hostile corpus (tests/security/hostile_corpus.py) against the real server.

Hundreds of requests across ``/mcp``, the OAuth endpoints, sign-in, every dashboard form and
the admin, as each role, sent to gunicorn with the uvicorn worker (tests/security/
hostile_server.py). Each must get no 5xx, change nothing, leak nothing, make the server call no
address it was handed, and have its security-relevant refusal audited: the audit log grows by
exactly those rows. Every failing case is listed with its request and response, so that one run
shows everything that does not hold.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket as stdlib_socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from tests.security import hostile_corpus as corpus
from tests.security.conftest import LEAKS
from tests.security.hostile_server import (
    OAUTH_CLIENT_ID,
    OAUTH_REDIRECT_URI,
    OTHER_SECRET,
    AuditRow,
    Listener,
    Server,
    running_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.own_server]

MINIMUM_REQUESTS = 300
REFUSAL_OUTCOMES = {"denied", "error"}
#: A request the middleware refuses before any view (a NUL byte, an oversized field) is audited
#: as such, whichever surface it was sent to.
REFUSED_BEFORE_ANY_VIEW = "request.refused"
#: People who may see the other account's resource (bob has it, charlie sees every account).
SEES_OTHER_ACCOUNT = {"bob", "charlie"}
#: An audit row written just after its response is read for this long before the case fails.
AUDIT_GRACE_SECONDS = 0.15


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    socket = Listener()
    try:
        # The socket sees a connection when one is made: its silence later means something.
        with contextlib.closing(stdlib_socket.create_connection(("127.0.0.1", socket.port))):
            pass
        deadline = time.monotonic() + 2
        while not socket.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert socket.connections == ["127.0.0.1"]
        socket.connections.clear()
        yield socket
    finally:
        socket.close()


def _csrf_token(client: httpx2.Client) -> str:
    token = client.cookies.get("csrftoken")
    assert token, "no CSRF cookie"
    return str(token)


def _sign_in(server: Server, username: str) -> httpx2.Client:
    """Password, then a TOTP code, as a person signs in (the admin requires the second
    factor; password sign-in may require it everywhere)."""
    client = server.client()
    client.get("/accounts/login/")
    password = server.facts["passwords"][username]
    response = client.post(
        "/accounts/login/",
        data={"login": username, "password": password, "csrfmiddlewaretoken": _csrf_token(client)},
    )
    assert response.status_code == 302, (username, response.status_code, response.text[:300])
    if "/2fa/authenticate" in response.headers["location"]:
        client.get("/accounts/2fa/authenticate/")
        left = 30 - time.time() % 30
        if left < 2:
            time.sleep(left + 0.05)
        secret = server.facts["totp"][username]
        code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
        response = client.post(
            "/accounts/2fa/authenticate/",
            data={"code": code, "csrfmiddlewaretoken": _csrf_token(client)},
        )
        assert response.status_code == 302, (username, response.text[:300])
    assert client.get("/").status_code == 200, username
    return client


def _tools(server: Server) -> list[dict[str, Any]]:
    headers = {**corpus.MCP_HEADERS, "authorization": f"Bearer {server.facts['keys']['alice']}"}
    with server.client() as client:
        response = client.post("/mcp", headers=headers, json=corpus.rpc("tools/list"))
    tools: list[dict[str, Any]] = response.json()["result"]["tools"]
    assert len(tools) >= 10
    return tools


def _send(clients: dict[str | None, httpx2.Client], request: corpus.Request) -> httpx2.Response:
    client = clients[request.as_user]
    headers = dict(request.headers)
    follow = request.follow
    if request.form is not None:
        form = dict(request.form)
        if request.csrf:
            client.get("/accounts/login/" if request.as_user is None else "/")
            form["csrfmiddlewaretoken"] = _csrf_token(client)
        return client.request(
            request.method, request.path, data=form, headers=headers, follow_redirects=follow
        )
    return client.request(
        request.method,
        request.path,
        content=request.content,
        headers=headers,
        follow_redirects=follow,
    )


def _mcp_refused(response: httpx2.Response) -> bool:
    if response.status_code >= 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if "error" in body:
        return True
    result = body.get("result")
    return isinstance(result, dict) and result.get("isError") is True


def _refused(case: corpus.Case, response: httpx2.Response) -> bool:
    if case.area == "mcp":
        return _mcp_refused(response)
    status, location = response.status_code, response.headers.get("location", "")
    if status >= 400:
        return True
    if case.area == "sign-in":
        # allauth shows the form again (200) or sends a disabled account to its page.
        return status != 302 or location.startswith(("/accounts/login", "/accounts/inactive"))
    return status in {301, 302, 303, 307} and ("login" in location or "error=" in location)


def _audit(server: Server, last: int, wanted: bool) -> list[AuditRow]:
    """The rows written since ``last``; waits a moment when one is wanted and none is there."""
    deadline = time.monotonic() + AUDIT_GRACE_SECONDS
    rows = server.database.audit_since(last)
    while wanted and not rows and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = server.database.audit_since(last)
    return rows


def _check(
    case: corpus.Case,
    response: httpx2.Response,
    rows: list[AuditRow],
    changed: list[str],
    calls: list[str],
) -> list[str]:
    problems: list[str] = []
    status = response.status_code
    if status >= 500:
        problems.append(f"answered {status}")
    if case.statuses is not None and status not in case.statuses:
        problems.append(f"status {status}, expected one of {sorted(case.statuses)}")
    refusals = case.audited | case.may_audit
    refused = _refused(case, response) or any(
        r.event_type in refusals and r.outcome in REFUSAL_OUTCOMES for r in rows
    )
    if case.refused is True and not refused:
        problems.append("accepted, expected a refusal")
    if case.refused is False and refused:
        problems.append("refused, expected an answer")
    unexpected = [r for r in changed if r not in case.may_change]
    if unexpected:
        problems.append(f"state changed: {unexpected}")
    if calls:
        problems.append(f"the server connected to the listening socket from {calls}")
    text = response.text
    if status >= 400 or (case.area == "mcp" and refused):
        leak = LEAKS.search(text)
        if leak:
            problems.append(f"leaks {leak.group(0)!r}")
    if case.request.as_user not in SEES_OTHER_ACCOUNT and OTHER_SECRET in text:
        problems.append("shows the other account's tag value")
    must_audit = (
        refused and bool(case.audited) and (case.audit_when is None or status in case.audit_when)
    )
    if must_audit and not any(
        r.event_type in case.audited and r.outcome in REFUSAL_OUTCOMES for r in rows
    ):
        problems.append(f"refusal not audited as any of {sorted(case.audited)}")
    allowed = (refusals | {REFUSED_BEFORE_ANY_VIEW} if refused else frozenset()) | (
        case.answered_events if not refused else frozenset()
    )
    extra = [
        (r.event_type, r.outcome)
        for r in rows
        if r.event_type not in allowed
        or (not refused and r.outcome != "success")
        or (refused and r.outcome not in REFUSAL_OUTCOMES)
    ]
    if extra:
        problems.append(f"unexpected audit rows {extra}")
    return problems


def _describe(case: corpus.Case, response: httpx2.Response, problems: list[str]) -> str:
    body = re.sub(r"\s+", " ", response.text)[:240]
    location = response.headers.get("location", "")
    return (
        f"[{case.area}] {case.id}: {'; '.join(problems)}\n"
        f"    request: {case.request.summary()}\n"
        f"    response: {response.status_code} {location} {body}"
    )


def test_hostile_requests_get_no_5xx_change_nothing_and_are_audited(
    server: Server, listener: Listener
) -> None:
    clients: dict[str | None, httpx2.Client] = {None: server.client()}
    for username in corpus.ROLES:
        clients[username] = _sign_in(server, username)
    clients[None].get("/accounts/login/")
    facts = corpus.Facts(
        keys=server.facts["keys"],
        own_resource=server.facts["own_resource"],
        other_resource=server.facts["other_resource"],
        scan=server.facts["scan"],
        oauth_client_id=OAUTH_CLIENT_ID,
        oauth_redirect_uri=OAUTH_REDIRECT_URI,
        listener_port=listener.port,
    )
    cases = corpus.build(facts, _tools(server))
    assert len(cases) >= MINIMUM_REQUESTS

    failures: list[str] = []
    timings: list[tuple[float, str]] = []
    state = server.database.state()
    for case in cases:
        started = time.monotonic()
        last = server.database.last_audit_id()
        connections = len(listener.connections)
        try:
            response = _send(clients, case.request)
        except httpx2.HTTPError as exc:
            failures.append(
                f"[{case.area}] {case.id}: no answer ({exc!r})\n    "
                f"request: {case.request.summary()}"
            )
            continue
        must_audit = bool(case.audited) and case.refused is not False
        rows = _audit(server, last, must_audit and _refused(case, response))
        after = server.database.state()
        changed = sorted(table for table in after if after[table] != state.get(table))
        state = after
        problems = _check(case, response, rows, changed, listener.connections[connections:])
        if problems:
            failures.append(_describe(case, response, problems))
        timings.append((time.monotonic() - started, case.id))

    for client in clients.values():
        client.close()
    report = Path(server.log).with_name("failures.txt")
    slowest = sorted(timings, reverse=True)[:15]
    report.write_text(
        "\n".join([*failures, "slowest:", *(f"  {t:.2f}s {i}" for t, i in slowest)]),
        encoding="utf-8",
    )
    assert not failures, f"{len(failures)} of {len(cases)} hostile requests failed:\n" + "\n".join(
        failures
    )


def test_the_corpus_covers_every_surface() -> None:
    """The corpus alone (no server): at least 300 requests, spread over every surface."""
    facts = corpus.Facts(
        keys={
            k: f"ftc_{k[:8]:_<8}_" + "x" * 43
            for k in ("alice", "alice_read", "expired", "revoked", "inactive_user")
        },
        own_resource=1,
        other_resource=2,
        scan=1,
        oauth_client_id=OAUTH_CLIENT_ID,
        oauth_redirect_uri=OAUTH_REDIRECT_URI,
        listener_port=9,
    )
    tool = {
        "name": "list_scans",
        "inputSchema": json.loads(
            '{"properties": {"limit": {"type": "integer"}, "cursor": {"anyOf": '
            '[{"type": "string"}, {"type": "null"}]}}}'
        ),
    }
    cases = corpus.build(facts, [tool])
    areas = {case.area: 0 for case in cases}
    for case in cases:
        areas[case.area] += 1
    assert set(areas) == {"mcp", "oauth", "sign-in", "dashboard", "admin"}
    assert min(areas.values()) >= 10, areas
    assert len(cases) >= MINIMUM_REQUESTS
