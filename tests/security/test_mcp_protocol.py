# ruff: noqa: RUF001 (the corpus is made of look-alike characters on purpose)
"""Bad requests at the HTTP and JSON-RPC layer of ``/mcp``: malformed and oversized bodies,
lying Content-Length, deep nesting, wide objects, spoofed headers, foreign origins and bad
keys. Each gets a 4xx JSON-RPC error (or a tool error), an audit row, and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compliance.models import AuditEvent
from tests.security.checks import assert_mcp_refused
from tests.security.conftest import (
    PEER,
    Estate,
    McpClient,
    Snapshot,
    assert_test_database,
    rpc,
    tool_call,
)


def test_the_corpus_runs_on_the_test_database(db: None) -> None:
    assert_test_database()


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


GOOD = json.dumps(tool_call("list_scans"))
#: (id, raw body) pairs: not JSON, not JSON-RPC, or not a message this endpoint takes.
MALFORMED: list[tuple[str, str | bytes]] = [
    ("empty_body", b""),
    ("whitespace", b"   \n"),
    ("truncated", GOOD[: len(GOOD) // 2]),
    ("truncated_string", '{"jsonrpc": "2.0", "id": 1, "method": "tools/li'),
    ("trailing_garbage", GOOD + "}}"),
    ("two_messages", GOOD + GOOD),
    ("single_quotes", GOOD.replace('"', "'")),
    ("nan", '{"jsonrpc": "2.0", "id": NaN, "method": "tools/list"}'),
    ("invalid_utf8", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/\xff\xfe"}'),
    ("utf16_bom", "\ufeff" + GOOD),
    ("nul_bytes", b"\x00" * 64),
    ("xml", b"<?xml version='1.0'?><methodCall/>"),
    ("form_encoded", b"jsonrpc=2.0&id=1&method=tools/list"),
    ("json_string", '"tools/list"'),
    ("json_number", "1"),
    ("json_null", "null"),
    ("json_true", "true"),
    ("batch", json.dumps([rpc("tools/list"), tool_call("list_scans")])),
    ("empty_batch", "[]"),
    ("missing_jsonrpc", json.dumps({"id": 1, "method": "tools/list"})),
    ("jsonrpc_1_0", json.dumps({"jsonrpc": "1.0", "id": 1, "method": "tools/list"})),
    ("jsonrpc_number", json.dumps({"jsonrpc": 2.0, "id": 1, "method": "tools/list"})),
    ("missing_method", json.dumps({"jsonrpc": "2.0", "id": 1})),
    ("method_int", json.dumps(rpc(5))),  # type: ignore[arg-type]
    ("method_null", json.dumps(rpc(None))),  # type: ignore[arg-type]
    ("method_empty", json.dumps(rpc(""))),
    ("method_list", json.dumps(rpc(["tools/list"]))),  # type: ignore[arg-type]
    ("id_object", json.dumps(rpc("tools/list", ident={"a": 1}))),
    ("id_list", json.dumps(rpc("tools/list", ident=[1]))),
    ("id_bool", json.dumps(rpc("tools/list", ident=True))),
    ("id_float", json.dumps(rpc("tools/list", ident=1.5))),
    ("id_null", json.dumps(rpc("tools/list", ident=None))),
    ("params_list", json.dumps(rpc("tools/call", ["list_scans"]))),
    ("params_string", json.dumps(rpc("tools/call", "list_scans"))),
    ("params_number", json.dumps(rpc("tools/call", 7))),
    ("call_without_id", json.dumps({"jsonrpc": "2.0", "method": "tools/call"})),
    ("unknown_method", json.dumps(rpc("admin/shutdown"))),
    ("method_traversal", json.dumps(rpc("../../etc/passwd"))),
    ("method_sql", json.dumps(rpc("tools/list'; DROP TABLE compliance_auditevent;--"))),
    ("tool_name_missing", json.dumps(rpc("tools/call", {"arguments": {}}))),
    ("tool_name_int", json.dumps(rpc("tools/call", {"name": 5}))),
    ("tool_name_unknown", json.dumps(tool_call("drop_everything"))),
    ("tool_name_traversal", json.dumps(tool_call("../../etc/passwd"))),
    ("tool_name_template", json.dumps(tool_call("{{ settings.SECRET_KEY }}"))),
    ("tool_name_nul", json.dumps(tool_call("list_scans\u0000"))),
    ("tool_name_rtl", json.dumps(tool_call("\u202esnacs_tsil"))),
    ("tool_name_overlong", json.dumps(tool_call("t" * 20_000))),
    ("tool_name_case", json.dumps(tool_call("LIST_SCANS"))),
    ("tool_name_homoglyph", json.dumps(tool_call("list_scаns"))),  # Cyrillic a
    ("tools_list_bad_cursor", json.dumps(rpc("tools/list", {"cursor": {"$ne": 1}}))),
]


@pytest.mark.parametrize("body", [pytest.param(body, id=name) for name, body in MALFORMED])
def test_malformed_json_rpc_is_refused(mcp: McpClient, estate: Estate, body: str | bytes) -> None:
    before = Snapshot.take()
    reply = mcp.request(body, key=estate.keys["alice"])
    assert_mcp_refused(reply, before)


LIMIT = 65536
#: Bodies the gate must refuse for their size or shape before anything parses them further.
OVERSIZED: list[tuple[str, Any, int]] = [
    ("body_over_limit", tool_call("list_scans", {"cursor": "x" * (LIMIT + 1)}), 413),
    ("huge_array", tool_call("list_scans", {"cursor": None, "junk": [0] * 40_000}), 413),
    ("deep_nesting_25", tool_call("list_scans", _nested(25)), 400),
    (
        "deep_nesting_5000",
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
        + '{"a": ' * 5000
        + "1"
        + "}" * 5001,
        400,
    ),
    ("deep_lists", tool_call("list_scans", {"a": json.loads("[" * 100 + "]" * 100)}), 400),
    ("many_keys", tool_call("list_scans", {f"k{i}": i for i in range(1200)}), 400),
    ("many_nested_keys", tool_call("list_scans", {"a": {f"k{i}": 0 for i in range(1100)}}), 400),
    ("wide_params", rpc("tools/list", {f"p{i}": None for i in range(2000)}), 400),
]


@pytest.mark.parametrize(
    ("body", "status"), [pytest.param(body, status, id=name) for name, body, status in OVERSIZED]
)
def test_oversized_and_deep_bodies_are_refused(
    mcp: McpClient, estate: Estate, body: Any, status: int
) -> None:
    before = Snapshot.take()
    reply = mcp.request(body, key=estate.keys["alice"])
    event = assert_mcp_refused(reply, before, statuses={status}, event_types={"mcp.denied"})
    assert event.detail["reason"] in {"body_size", "json_depth", "json_keys"}


#: Content-Length that lies about the body: over the limit, not a number, or short.
LENGTH_LIES: list[tuple[str, str]] = [
    ("declared_over_limit", str(LIMIT * 100)),
    ("declared_huge", "9" * 30),
    ("declared_negative", "-1"),
    ("declared_not_a_number", "lots"),
]


@pytest.mark.parametrize("declared", [pytest.param(value, id=name) for name, value in LENGTH_LIES])
def test_content_length_lies_are_refused(mcp: McpClient, estate: Estate, declared: str) -> None:
    before = Snapshot.take()
    body = json.dumps(tool_call("list_scans", {"junk": "y" * 100})).encode()
    reply = mcp.request(body, key=estate.keys["alice"], headers={"content-length": declared})
    assert reply.status < 500
    assert 400 <= reply.status < 500 or "isError" in reply.text
    events = before.assert_unchanged()
    assert events, "no audit row for a request with a lying Content-Length"


#: Presented credentials that must not authenticate.
BAD_KEYS: list[tuple[str, str | None, str]] = [
    ("no_header", None, "missing"),
    ("empty_bearer", "", "missing"),
    ("not_a_key", "not-a-key", "malformed"),
    ("sql_key", "' OR 1=1 --", "malformed"),
    ("traversal_key", "../../etc/passwd", "malformed"),
    ("nul_key", "ftc_abcdefgh_\u0000" + "x" * 42, "malformed"),
    ("overlong_key", "ftc_abcdefgh_" + "x" * 5000, "malformed"),
    ("unknown_prefix", "ftc_abcdefgh_" + "x" * 43, "unknown"),
]


@pytest.mark.parametrize(
    ("presented", "reason"),
    [pytest.param(key, reason, id=name) for name, key, reason in BAD_KEYS],
)
def test_bad_keys_get_401(
    mcp: McpClient, estate: Estate, presented: str | None, reason: str
) -> None:
    before = Snapshot.take()
    headers = {} if presented is None else {"authorization": f"Bearer {presented}"}
    if presented is not None and not presented.isascii():
        headers = {"authorization": "Bearer ftc_abcdefgh_%00" + "x" * 40}
    reply = mcp.request(tool_call("list_scans"), headers=headers)
    event = assert_mcp_refused(reply, before, statuses={401}, event_types={"auth.failed"})
    assert event.detail["reason"] in {reason, "malformed"}
    assert reply.headers["www-authenticate"].startswith('Bearer realm="mcp"')


@pytest.mark.parametrize("which", ["expired", "revoked", "inactive_user", "wrong_secret"])
def test_expired_revoked_and_orphaned_keys_get_401(
    mcp: McpClient, estate: Estate, which: str
) -> None:
    key = estate.keys["alice"][:13] + "y" * 43 if which == "wrong_secret" else estate.keys[which]
    before = Snapshot.take()
    reply = mcp.request(tool_call("check_tag_compliance"), key=key)
    event = assert_mcp_refused(reply, before, statuses={401}, event_types={"auth.failed"})
    assert event.detail["reason"] == which.replace("wrong_secret", "wrong")
    assert reply.json()["error"]["message"] == "invalid API key (unknown, expired or revoked)"


def test_read_only_key_cannot_start_a_scan(mcp: McpClient, estate: Estate) -> None:
    before = Snapshot.take()
    reply = mcp.request(tool_call("start_scan"), key=estate.keys["alice_read"])
    assert_mcp_refused(reply, before, statuses={403}, event_types={"mcp.denied"})


#: Host headers of a DNS-rebinding or cache-poisoning attempt.
BAD_HOSTS = [
    "rebind.example",
    "127.0.0.1.nip.io",
    "localhost.evil.example",
    "evil.example:8000",
    "127.0.0.1@evil.example",
    "",
    "local host",
    "[::1",
    "xn--80ak6aa92e.com",
    "LOCALHOST\u0000.evil",
]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_foreign_host_gets_421(mcp: McpClient, estate: Estate, host: str) -> None:
    before = Snapshot.take()
    reply = mcp.request(
        tool_call("list_scans"),
        key=estate.keys["alice"],
        headers={"host": host.encode("utf-8").decode("latin-1")},
    )
    event = assert_mcp_refused(reply, before, statuses={421}, event_types={"mcp.denied"})
    assert event.detail["reason"] == "host"


#: Origins of a browser page trying to reach the endpoint (DNS rebinding, CSRF).
BAD_ORIGINS = [
    "https://evil.example",
    "http://127.0.0.1:8000.evil.example",
    "http://localhost.evil.example",
    "null",
    "file://",
    "http://127.0.0.1:8001",
    "https://127.0.0.1:8000",
    "http://[::1]:8000",
    "chrome-extension://abcdefghijklmnop",
    "",
]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_foreign_origin_gets_403(mcp: McpClient, estate: Estate, origin: str) -> None:
    before = Snapshot.take()
    reply = mcp.request(
        tool_call("list_scans"), key=estate.keys["alice"], headers={"origin": origin}
    )
    event = assert_mcp_refused(reply, before, statuses={403}, event_types={"mcp.denied"})
    assert event.detail["reason"] == "origin"


#: Forwarded headers from an untrusted peer: never believed, so the audit row names the peer.
SPOOFED = [
    ("x_forwarded_for_localhost", {"x-forwarded-for": "127.0.0.1"}),
    ("x_forwarded_for_chain", {"x-forwarded-for": "10.0.0.1, 127.0.0.1"}),
    ("x_forwarded_for_garbage", {"x-forwarded-for": "'; DROP TABLE x;--"}),
    ("x_forwarded_for_ipv6_loopback", {"x-forwarded-for": "::1"}),
    ("x_real_ip", {"x-real-ip": "127.0.0.1"}),
    ("forwarded", {"forwarded": "for=127.0.0.1;host=localhost;proto=https"}),
    ("x_forwarded_host", {"x-forwarded-host": "localhost"}),
    ("x_forwarded_proto", {"x-forwarded-proto": "https"}),
]


@pytest.mark.parametrize("headers", [pytest.param(headers, id=name) for name, headers in SPOOFED])
def test_spoofed_forwarded_headers_do_not_help_a_refused_call(
    mcp: McpClient, estate: Estate, headers: dict[str, str]
) -> None:
    """A spoofed header neither passes authentication nor hides the real peer."""
    before = Snapshot.take()
    reply = mcp.request(tool_call("list_scans"), headers=headers)
    event = assert_mcp_refused(reply, before, statuses={401}, event_types={"auth.failed"})
    assert event.client_address == PEER


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_http_methods_are_refused_and_audited(
    mcp: McpClient, estate: Estate, method: str
) -> None:
    before = Snapshot.take()
    reply = mcp.request(b"", key=estate.keys["alice"], method=method)
    assert 400 <= reply.status < 500
    events = before.assert_unchanged()
    assert any(e.event_type == "mcp.denied" for e in events)
    assert all(e.outcome == AuditEvent.Outcome.DENIED for e in events)
