"""Incident response: the MCP lockdown, revoking every key from the admin, the audit export."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from compliance.models import AuditEvent, LockdownState
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.reads.incident import LOCKDOWN_MESSAGE, forget_cached_lockdown, mcp_locked_down
from compliance.writes.lockdown import do_set_lockdown
from mcp_endpoint.models import ApiKey
from tests.conftest import sign_in_with_mfa
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post


@pytest.fixture(autouse=True)
def _fresh_lockdown_cache() -> None:
    forget_cached_lockdown()


@pytest.fixture
def root(transactional_db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "root-password-123")


def _lockdown_refusals() -> list[AuditEvent]:
    """HTTP refusals name the reason, the tool-call gate the limit that refused."""
    denied = AuditEvent.objects.filter(event_type="mcp.denied")
    return [e for e in denied if "lockdown" in (e.detail.get("reason"), e.detail.get("limit"))]


# --- Lockdown ---------------------------------------------------------------------------------


def test_lockdown_refuses_mcp_calls_with_a_clear_error_and_audits_them(root: User) -> None:
    key = make_key(root)
    assert post(tool_call("list_scans"), key=key)[0] == 200
    do_set_lockdown(True, reason="key leaked in a ticket", acting=root, interface="admin")
    status, body, _headers = post(tool_call("list_scans"), key=key)
    assert status == 503
    assert body["error"]["message"] == LOCKDOWN_MESSAGE
    assert "service in lockdown" in body["error"]["message"]
    assert body["error"]["data"]["reason"] == "lockdown"
    assert len(_lockdown_refusals()) == 1
    changed = AuditEvent.objects.get(event_type="lockdown.changed")
    assert changed.detail == {
        "enabled": True,
        "was_enabled": False,
        "reason": "key leaked in a ticket",
    }


def test_lockdown_refuses_even_calls_without_a_key(root: User) -> None:
    do_set_lockdown(True, acting=Operator())
    assert post(tool_call("list_scans"))[0] == 503


def test_lockdown_off_lets_calls_through_again(root: User) -> None:
    key = make_key(root)
    do_set_lockdown(True, acting=Operator())
    do_set_lockdown(False, acting=Operator())
    assert post(tool_call("list_scans"), key=key)[0] == 200


@override_settings(MCP_LOCKDOWN=True)
def test_the_environment_setting_locks_down_without_the_database(root: User) -> None:
    assert not LockdownState.objects.filter(enabled=True).exists()
    assert post(tool_call("list_scans"), key=make_key(root))[0] == 503


def test_admin_and_dashboard_keep_working_in_lockdown(root: User) -> None:
    do_set_lockdown(True, acting=Operator())
    client = Client()
    sign_in_with_mfa(client, root, "root-password-123")
    assert client.get("/admin/").status_code == 200
    page = client.get("/admin/mcp_endpoint/apikey/")
    assert page.status_code == 200
    assert b"MCP lockdown is ON" in page.content
    assert client.get("/").status_code == 200


def test_the_flag_is_cached_briefly_and_forgotten_on_change(root: User) -> None:
    assert mcp_locked_down() is False
    # A change made elsewhere (another node) is seen once the cache expires...
    LockdownState.objects.create(pk=1, enabled=True)
    assert mcp_locked_down() is False
    forget_cached_lockdown()
    assert mcp_locked_down() is True
    # ...and a change made here is seen at once.
    do_set_lockdown(False, acting=Operator())
    assert mcp_locked_down() is False


def test_lockdown_command_turns_it_on_and_off(root: User) -> None:
    out = io.StringIO()
    call_command("lockdown", "on", "--reason", "investigating", stdout=out)
    assert "Lockdown ON" in out.getvalue()
    assert LockdownState.objects.get(pk=1).enabled is True
    call_command("lockdown", "status", stdout=(status := io.StringIO()))
    assert "database flag: on" in status.getvalue()
    call_command("lockdown", "off", stdout=io.StringIO())
    assert LockdownState.objects.get(pk=1).enabled is False
    events = AuditEvent.objects.filter(event_type="lockdown.changed").order_by("id")
    assert [e.detail["enabled"] for e in events] == [True, False]
    assert {e.actor_label for e in events} == {"cli"}


def test_a_bad_lockdown_reason_is_refused_and_audited(root: User) -> None:
    with pytest.raises(CommandError, match="reason"):
        call_command("lockdown", "on", "--reason", "x" * 501, stdout=io.StringIO())
    assert not LockdownState.objects.filter(enabled=True).exists()
    assert AuditEvent.objects.get(event_type="lockdown.changed").outcome == "denied"


def test_stdio_refuses_to_start_in_lockdown(root: User) -> None:
    do_set_lockdown(True, acting=Operator())
    with pytest.raises(CommandError, match="lockdown"):
        call_command("mcp_stdio", "--user", "root")


def test_stdio_gate_refuses_calls_once_locked_down(root: User) -> None:
    import anyio
    from mcp.server.context import ServerRequestContext

    from mcp_endpoint.principal import Caller
    from mcp_endpoint.server import CallGate

    do_set_lockdown(True, acting=Operator())
    gate = CallGate(Caller.for_local_user(root))
    ctx: Any = ServerRequestContext.__new__(ServerRequestContext)
    object.__setattr__(ctx, "request", None)
    object.__setattr__(ctx, "method", "tools/call")
    object.__setattr__(ctx, "params", {"name": "list_scans", "arguments": {}})

    async def never(_ctx: Any) -> Any:
        raise AssertionError("the tool ran in lockdown")

    result: Any = anyio.run(gate, ctx, never)
    assert result.is_error is True
    assert LOCKDOWN_MESSAGE in result.content[0].text
    assert len(_lockdown_refusals()) == 1
    assert _lockdown_refusals()[0].interface == "stdio"


def test_admin_lockdown_switch_asks_for_confirmation_then_turns_it_on(root: User) -> None:
    client = Client()
    sign_in_with_mfa(client, root, "root-password-123")
    confirm = client.get("/admin/mcp_endpoint/apikey/lockdown/")
    assert confirm.status_code == 200
    assert b"Yes, lock down" in confirm.content
    assert not LockdownState.objects.filter(enabled=True).exists()
    client.post("/admin/mcp_endpoint/apikey/lockdown/", {"enable": "on", "reason": "incident"})
    assert LockdownState.objects.get(pk=1).enabled is True
    assert AuditEvent.objects.get(event_type="lockdown.changed").interface == "admin"


# --- Revoke every key -------------------------------------------------------------------------


def test_admin_revokes_all_keys_after_confirmation(root: User) -> None:
    alice = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(alice, Role.ANALYST)
    keys = [make_key(root), make_key(alice), make_key(alice, name="second")]
    client = Client()
    sign_in_with_mfa(client, root, "root-password-123")
    confirm = client.get("/admin/mcp_endpoint/apikey/revoke-all/")
    assert confirm.status_code == 200
    assert b"Revoke all 3 active API key(s)?" in confirm.content
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 3
    client.post("/admin/mcp_endpoint/apikey/revoke-all/")
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 0
    assert all(post(tool_call("list_scans"), key=k)[0] == 401 for k in keys)
    revoked = AuditEvent.objects.get(event_type="apikey.revoked")
    assert (revoked.target, revoked.detail["count"], revoked.interface) == ("all", 3, "admin")


def test_revoke_all_needs_the_permission(root: User) -> None:
    viewer = User.objects.create_user(
        "viewer", "v@example.com", "viewer-password-123", is_staff=True
    )
    make_key(root)
    client = Client()
    sign_in_with_mfa(client, viewer, "viewer-password-123")
    assert client.post("/admin/mcp_endpoint/apikey/revoke-all/").status_code == 403
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 1


# --- Audit log export -------------------------------------------------------------------------


BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: name -> (actor, key prefix in detail, target, correlation id, occurred_at)
ROWS = {
    "a": ("alice", "ftc_aaaaaaaa", "list_scans", "corr-a-0001", BASE),
    "b": ("bob", "ftc_bbbbbbbb", "list_scans", "corr-b-0001", BASE + timedelta(hours=1)),
    "c": ("alice", None, "list_scans", "corr-c-0001", BASE + timedelta(hours=2)),
    "d": ("cli", None, "ftc_aaaaaaaa", "", BASE + timedelta(days=1)),
    "e": ("bob", "ftc_aaaaaaaa", "list_scans", "corr-a-0001", BASE + timedelta(days=2)),
}


@pytest.fixture
def events(db: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Five events with distinct users, keys, correlation ids and times (``occurred_at`` is
    stamped by the database layer from ``timezone.now``, and the log is append-only, so the
    clock is set instead of the field)."""
    ids = {}
    for name, (actor, prefix, target, correlation, at) in ROWS.items():
        monkeypatch.setattr(timezone, "now", lambda at=at: at)
        event = AuditEvent.objects.create(
            event_type="mcp.call",
            actor_label=actor,
            detail={"key_prefix": prefix} if prefix else {},
            target=target,
            correlation_id=correlation,
            interface="mcp",
        )
        ids[name] = event.pk
    monkeypatch.undo()
    return ids


def export(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("export_audit_log", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def names(rows: list[dict[str, Any]], ids: dict[str, int]) -> list[str]:
    by_id = {pk: name for name, pk in ids.items()}
    return [by_id[row["id"]] for row in rows if row["id"] in by_id]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["a", "b", "c", "d", "e"]),
        (("--since", "2026-03-01T13:00:00Z"), ["b", "c", "d", "e"]),
        (("--until", "2026-03-01T13:00:00+00:00"), ["a"]),
        (("--since", "2026-03-01T12:30:00", "--until", "2026-03-02"), ["b", "c"]),
        (("--user", "alice"), ["a", "c"]),
        (("--key-prefix", "ftc_aaaaaaaa"), ["a", "d", "e"]),
        (("--correlation-id", "corr-a-0001"), ["a", "e"]),
        (("--user", "bob", "--key-prefix", "ftc_aaaaaaaa"), ["e"]),
        (("--user", "nobody"), []),
    ],
)
def test_export_filters_are_exact(
    events: dict[str, int], args: tuple[str, ...], expected: list[str]
) -> None:
    rows = export(*args)
    assert names(rows, events) == expected
    # Only our rows (the export's own audit row is written after it).
    assert len(rows) == len(expected)


def test_export_writes_json_lines_with_every_field(events: dict[str, int]) -> None:
    row = export("--correlation-id", "corr-b-0001")[0]
    assert row == {
        "id": events["b"],
        "occurred_at": "2026-03-01T13:00:00+00:00",
        "event_type": "mcp.call",
        "outcome": "success",
        "actor": "bob",
        "actor_id": None,
        "interface": "mcp",
        "target": "list_scans",
        "correlation_id": "corr-b-0001",
        "client_address": None,
        "detail": {"key_prefix": "ftc_bbbbbbbb"},
    }


def test_export_to_a_file_is_audited_and_never_overwrites(
    events: dict[str, int], tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    call_command(
        "export_audit_log", "--user", "alice", "--output", str(target), stderr=io.StringIO()
    )
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [events["a"], events["c"]]
    exported = AuditEvent.objects.get(event_type="audit.exported")
    assert exported.detail == {"filters": {"user": "alice"}, "count": 2}
    with pytest.raises(CommandError, match="exists"):
        call_command("export_audit_log", "--output", str(target), stderr=io.StringIO())


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--since", "yesterday"), "--since"),
        (("--until", "2026-13-45"), "--until"),
        (("--since", "2026-03-02", "--until", "2026-03-01"), "before --until"),
    ],
)
def test_export_refuses_bad_times(db: None, args: tuple[str, ...], error: str) -> None:
    with pytest.raises(CommandError, match=error):
        export(*args)
