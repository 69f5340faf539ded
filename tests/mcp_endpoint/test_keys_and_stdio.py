"""API keys (hash only, commands, audit) and the stdio server's identity and audit."""

from __future__ import annotations

import io
from typing import Any

import anyio
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from mcp import Client

from compliance.models import AuditEvent
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.keys import do_create_api_key
from compliance.writes.refusals import ActionError
from mcp_endpoint import keys
from mcp_endpoint.models import ApiKey
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import build_server
from tests.mcp_endpoint.conftest import OTHER_ACCOUNT, Accounts


def test_create_api_key_prints_the_key_once_and_stores_only_its_hmac(alice: User) -> None:
    assign_role(alice, Role.ANALYST)  # a key may hold `scan` only for a role that scans
    out = io.StringIO()
    call_command("create_api_key", user="alice", name="laptop", scopes="read,scan", stdout=out)
    raw = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert keys.KEY_PATTERN.fullmatch(raw)
    assert raw.startswith(key.prefix + "_")
    assert raw not in key.key_hash
    assert key.key_hash == keys.hash_key(raw)
    assert key.scopes == ["read", "scan"]
    assert keys.verify(raw).key == key
    event = AuditEvent.objects.get(event_type="apikey.created")
    assert (event.target, event.actor_label) == (key.prefix, "cli")
    assert raw not in str(event.detail)


def test_create_api_key_refuses_a_scope_the_owners_role_lacks(alice: User) -> None:
    with pytest.raises(CommandError, match=r"alice's role does not allow scan \(it allows: read\)"):
        call_command("create_api_key", user="alice", name="laptop", scopes="read,scan")
    assert not ApiKey.objects.exists()
    refusal = AuditEvent.objects.get(event_type="apikey.created")
    assert refusal.outcome == "denied"


def test_expiry_defaults_to_and_cannot_exceed_the_maximum(alice: User, settings: Any) -> None:
    settings.API_KEY_MAX_AGE_DAYS = 30
    key, _raw = do_create_api_key(user=alice, name="k", acting=Operator())
    assert 29 < (key.expires_at - key.created_at).total_seconds() / 86400 <= 30
    with pytest.raises(ActionError, match="between 1 and 30"):
        do_create_api_key(user=alice, name="k", expires_in_days=31, acting=Operator())
    refused = AuditEvent.objects.get(event_type="apikey.created", outcome="denied")
    assert "between 1 and 30" in refused.detail["error"]


def test_a_key_cannot_name_accounts_its_user_cannot_see(accounts: Accounts, bob_t: User) -> None:
    with pytest.raises(ActionError, match="not visible to bob"):
        do_create_api_key(user=bob_t, name="k", account_ids=["123456789012"], acting=Operator())
    key, _ = do_create_api_key(user=bob_t, name="k", account_ids=[OTHER_ACCOUNT], acting=Operator())
    assert list(key.accounts.values_list("account_id", flat=True)) == [OTHER_ACCOUNT]


def test_revoke_api_keys_by_prefix_user_and_all(alice: User, bob: User) -> None:
    first, _ = do_create_api_key(user=alice, name="a1", acting=Operator())
    do_create_api_key(user=alice, name="a2", acting=Operator())
    do_create_api_key(user=bob, name="b1", acting=Operator())
    call_command("revoke_api_keys", prefix=first.prefix, stdout=io.StringIO())
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 1
    call_command("revoke_api_keys", user="alice", stdout=io.StringIO())
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2
    out = io.StringIO()
    call_command("revoke_api_keys", all=True, stdout=out)
    assert "Revoked 1 key(s)" in out.getvalue()
    assert not ApiKey.objects.filter(revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(event_type="apikey.revoked").count() == 3
    with pytest.raises(CommandError, match="not a key prefix"):
        call_command("revoke_api_keys", prefix="nope")


def test_mcp_stdio_refuses_an_unknown_user(db: None) -> None:
    with pytest.raises(CommandError, match="no active user named 'nobody'"):
        call_command("mcp_stdio", user="nobody")


def test_stdio_server_acts_as_its_user_and_audits_each_call(
    transactional_db: None, alice_t: User
) -> None:
    server = build_server(local_caller=Caller.for_local_user(alice_t))

    async def main() -> Any:
        async with Client(server) as client:
            return await client.call_tool("check_tag_compliance", {"limit": 1})

    result = anyio.run(main)
    assert not result.is_error
    assert result.structured_content["total_resources"] == 0
    event = AuditEvent.objects.get(event_type="mcp.call")
    assert (event.interface, event.actor, event.target) == (
        "stdio",
        alice_t,
        "check_tag_compliance",
    )
    assert len(event.correlation_id) == 32
