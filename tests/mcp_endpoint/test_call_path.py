"""The per-call path: one application serves every caller, guard counters in one step, the key
read in one query, and exactly one audit row per call whatever the timing."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import anyio
import pytest
from django.contrib.auth.models import User
from django.db import OperationalError

from compliance import audit, reads
from compliance.models import AuditEvent, LockdownState
from compliance.reads import incident
from mcp_endpoint import counters, credentials, keys
from tests.mcp_endpoint.conftest import (
    MCP_HEADERS,
    OTHER_ACCOUNT,
    Accounts,
    asgi_client,
    make_key,
    tool_call,
)
from tests.mcp_endpoint.test_auth import post

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["database", "redis"])
def counter_backend(request: pytest.FixtureRequest, settings: Any, transactional_db: None) -> str:
    settings.REDIS_URL = REDIS_TEST_URL if request.param == "redis" else ""
    return str(request.param)


def _windows(subject: str, limits: tuple[int, int, int]) -> list[counters.Window]:
    return [
        counters.Window(name, subject, limit, 3600)
        for name, limit in zip(("first", "second", "third"), limits, strict=True)
    ]


def test_windows_hit_in_turn_stop_at_the_first_full_one(counter_backend: str) -> None:
    subject = uuid.uuid4().hex
    now = time.time()
    windows = _windows(subject, (10, 2, 10))
    verdicts = [[hit.allowed for hit in counters.hit_in_turn(windows, now=now)] for _ in range(4)]
    # The second window fills after two calls; from then on the third is never reached.
    assert verdicts == [[True, True, True]] * 2 + [[True, False]] * 2

    def room_left(window: counters.Window) -> int:
        return sum(
            counters.hit(window.name, subject, limit=10, window_seconds=3600, now=now).allowed
            for _ in range(10)
        )

    # What each window counted: 4 hits, 2 (refused hits are not counted), 2.
    assert [room_left(window) for window in windows] == [10 - 4, 10 - 2, 10 - 2]


def test_a_single_hit_is_a_window_of_its_own(counter_backend: str) -> None:
    subject = uuid.uuid4().hex
    now = time.time()
    hits = [counters.hit("single", subject, limit=2, window_seconds=60, now=now) for _ in range(3)]
    assert [hit.allowed for hit in hits] == [True, True, False]
    assert hits[2].resets_at.timestamp() == (int(now // 60) + 1) * 60


def test_a_key_naming_no_accounts_is_read_in_one_query(
    alice_t: User, django_assert_num_queries: Any
) -> None:
    raw = make_key(alice_t)
    with django_assert_num_queries(1):
        verdict = keys.verify(raw)
    assert verdict.reason == "ok"
    assert verdict.account_ids == frozenset()


def test_a_key_naming_accounts_reads_them_with_the_key(
    accounts: Accounts, alice_t: User, django_assert_num_queries: Any
) -> None:
    from compliance.models import AccountAccess

    AccountAccess.objects.create(user=alice_t, account=accounts.other_account)
    raw = make_key(alice_t, account_ids=[OTHER_ACCOUNT])
    with django_assert_num_queries(2):
        verdict = keys.verify(raw)
    assert verdict.account_ids == frozenset({OTHER_ACCOUNT})


def test_one_application_keeps_concurrent_callers_apart(
    alice_key: str, bob_t: User, settings: Any
) -> None:
    """The server, its tools and the session manager are built once per process: calls of two
    users through it at the same time each act, and are audited, as their own caller."""
    settings.MCP_MAX_IDENTICAL_CALLS = 100
    bob_key = make_key(bob_t)
    answers: dict[str, tuple[str, bool]] = {}

    async def main() -> None:
        async with asgi_client() as client:

            async def call(who: str, key: str, n: int) -> None:
                correlation = f"{who}-call-{n:04d}"
                response = await client.post(
                    "/mcp",
                    json=tool_call("check_tag_compliance", {"account_ids": [OTHER_ACCOUNT]}),
                    headers={
                        **MCP_HEADERS,
                        "authorization": f"Bearer {key}",
                        "x-correlation-id": correlation,
                    },
                )
                answers[correlation] = (who, response.json()["result"]["isError"])

            async with anyio.create_task_group() as group:
                for n in range(6):
                    group.start_soon(call, "alice", alice_key, n)
                    group.start_soon(call, "bob", bob_key, n)

    anyio.run(main)
    assert len(answers) == 12
    # The other account is bob's: refused to alice every time, answered to bob every time.
    assert {c: refused for c, (who, refused) in answers.items()} == {
        c: who == "alice" for c, (who, _refused) in answers.items()
    }
    rows = AuditEvent.objects.filter(correlation_id__in=answers)
    assert sorted((row.correlation_id, row.actor_label, row.event_type) for row in rows) == sorted(
        (c, who, "mcp.denied" if who == "alice" else "mcp.call")
        for c, (who, _refused) in answers.items()
    )
    prefixes = {row.actor_label: row.detail["key_prefix"] for row in rows}
    assert prefixes == {"alice": alice_key[:12], "bob": bob_key[:12]}


def test_a_timed_out_call_has_one_audit_row_even_after_the_tool_finishes(
    alice_key: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MCP_TOOL_TIMEOUT_SECONDS = 0.2
    finished: list[bool] = []

    def slow_scan_block(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.6)
        finished.append(True)

    monkeypatch.setattr(reads, "scan_block", slow_scan_block)
    _status, body, headers = post(tool_call("list_scans"), key=alice_key)
    assert body["result"]["structuredContent"]["error"]["limit"] == "tool_timeout"
    deadline = time.monotonic() + 5
    while not finished and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the late tool's thread returns (without writing) after its handler
    assert finished == [True]
    rows = AuditEvent.objects.filter(correlation_id=headers["x-correlation-id"])
    assert [(row.event_type, row.outcome, row.detail["error"]) for row in rows] == [
        ("mcp.denied", "error", "timeout")
    ]


def test_a_failing_tool_leaves_one_error_row_and_no_success_row(
    alice_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(reads, "scan_block", broken)
    _status, body, headers = post(tool_call("list_scans"), key=alice_key)
    assert body["result"]["isError"] is True
    rows = AuditEvent.objects.filter(correlation_id=headers["x-correlation-id"])
    assert [(row.event_type, row.outcome, row.detail["error"]) for row in rows] == [
        ("mcp.denied", "error", "internal error")
    ]


#: What PostgreSQL says when it has no room for another client: a host, a port, a server name.
REFUSED_BY_THE_DATABASE = (
    'connection failed: connection to server at "10.1.2.3", port 5432 failed: '
    "FATAL:  sorry, too many clients already"
)


def database_gone(*args: Any, **kwargs: Any) -> None:
    raise OperationalError(REFUSED_BY_THE_DATABASE)


def _leaks(body: dict[str, Any]) -> bool:
    text = json.dumps(body)
    return any(word in text for word in ("5432", "10.1.2.3", "FATAL", "too many clients"))


def test_a_call_whose_audit_row_cannot_be_written_answers_without_detail(
    alice_key: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(audit, "record", database_gone)
    with caplog.at_level(logging.ERROR, logger="mcp_endpoint.server"):
        status, body, headers = post(tool_call("list_scans"), key=alice_key)
    assert status == 200
    result = body["result"]
    assert result["isError"] is True
    correlation = headers["x-correlation-id"]
    assert result["structuredContent"]["error"] == {
        "message": f"list_scans failed with an internal error; the administrator can find it "
        f"under correlation id {correlation}",
        "correlation_id": correlation,
    }
    assert not _leaks(body)
    # The log keeps what the missing row would have said.
    logged = [r for r in caplog.records if "without its audit row" in r.getMessage()]
    assert len(logged) == 1
    assert correlation in logged[0].getMessage()
    assert alice_key[:12] in logged[0].getMessage()
    assert REFUSED_BY_THE_DATABASE in caplog.text


def test_a_request_the_database_cannot_serve_gets_503_without_detail(
    alice_key: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(credentials, "authenticate", database_gone)
    with caplog.at_level(logging.ERROR, logger="mcp_endpoint.http"):
        status, body, headers = post(tool_call("list_scans"), key=alice_key)
    assert status == 503
    assert headers["retry-after"] == "5"
    correlation = headers["x-correlation-id"]
    assert body["error"]["data"] == {"reason": "unavailable", "correlation_id": correlation}
    assert body["error"]["message"].startswith(
        "service unavailable: the server could not reach its database"
    )
    assert not _leaks(body)
    assert correlation in caplog.text
    assert REFUSED_BY_THE_DATABASE in caplog.text


def test_any_other_failure_in_the_gate_is_a_500_without_detail(
    alice_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"/srv/app/secret.py: {REFUSED_BY_THE_DATABASE}")

    monkeypatch.setattr(credentials, "authenticate", broken)
    status, body, headers = post(tool_call("list_scans"), key=alice_key)
    assert status == 500
    assert "retry-after" not in headers
    assert body["error"]["data"]["reason"] == "internal_error"
    assert not _leaks(body)
    assert "/srv/app" not in json.dumps(body)


def test_an_unreadable_lockdown_flag_refuses_as_unavailable_not_as_a_lockdown(
    alice_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident.forget_cached_lockdown()
    monkeypatch.setattr(LockdownState.objects, "filter", database_gone)
    status, body, _headers = post(tool_call("list_scans"), key=alice_key)
    assert status == 503
    assert body["error"]["data"]["reason"] == "unavailable"
    assert "lockdown" not in json.dumps(body)
    assert not AuditEvent.objects.filter(detail__reason="lockdown").exists()
