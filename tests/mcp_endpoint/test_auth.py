"""The auth matrix at the HTTP layer: each refusal with its status and its audit row."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

import anyio
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from compliance.models import AuditEvent
from mcp_endpoint.models import ApiKey
from tests.mcp_endpoint.conftest import (
    MCP_HEADERS,
    OTHER_ACCOUNT,
    Accounts,
    asgi_client,
    make_key,
    rpc,
    tool_call,
)

PEER = "203.0.113.7"


def post(
    body: Any, *, key: str | None = None, peer: str = PEER, **headers: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    async def main() -> tuple[int, dict[str, Any], dict[str, str]]:
        sent = dict(MCP_HEADERS)
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        async with asgi_client(peer=peer) as client:
            response = await client.post("/mcp", json=body, headers=sent)
            return response.status_code, response.json(), dict(response.headers)

    return anyio.run(main)


def last_event() -> AuditEvent:
    return AuditEvent.objects.filter(event_type__in=["auth.failed", "mcp.denied", "mcp.call"])[0]


@pytest.mark.parametrize(
    ("presented", "reason"),
    [
        (None, "missing"),
        ("not-a-key", "malformed"),
        ("ftc_abcdefgh_" + "x" * 43, "unknown"),
    ],
)
def test_requests_without_a_valid_key_get_401(
    accounts: Accounts, presented: str | None, reason: str
) -> None:
    status, body, headers = post(tool_call("list_scans"), key=presented)
    assert status == 401
    assert headers["www-authenticate"].startswith('Bearer realm="mcp"')
    # The client learns only "no key" or "not a valid key"; the audit row keeps the detail.
    assert body["error"]["data"]["reason"] == (
        "missing" if reason == "missing" else "invalid_token"
    )
    event = last_event()
    assert (event.event_type, event.outcome, event.client_address) == (
        "auth.failed",
        "denied",
        PEER,
    )
    assert event.detail["reason"] == reason
    assert event.correlation_id == headers["x-correlation-id"]


def test_wrong_secret_for_a_real_prefix_is_refused(alice_key: str) -> None:
    prefix = alice_key[:12]
    status, _body, _ = post(tool_call("list_scans"), key=prefix + "_" + "y" * 43)
    assert status == 401
    assert last_event().detail == {
        "status": 401,
        "reason": "wrong",
        "key_prefix": prefix,
        "error": "invalid API key (unknown, expired or revoked)",
    }


def test_expired_and_revoked_keys_are_refused(alice_t: User) -> None:
    expired = make_key(alice_t)
    ApiKey.objects.filter(prefix=expired[:12]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked = make_key(alice_t, name="other")
    ApiKey.objects.filter(prefix=revoked[:12]).update(revoked_at=timezone.now())
    for key, reason in ((expired, "expired"), (revoked, "revoked")):
        status, body, _ = post(tool_call("list_scans"), key=key)
        assert status == 401
        assert body["error"]["message"] == "invalid API key (unknown, expired or revoked)"
        assert last_event().detail["reason"] == reason


def test_read_only_key_gets_403_with_a_scope_challenge_for_start_scan(alice_t: User) -> None:
    key = make_key(alice_t, scopes=["read"])
    status, body, headers = post(tool_call("start_scan"), key=key)
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer realm="mcp", error="insufficient_scope", scope="scan", resource_metadata='
        '"http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"'
    )
    assert body["error"]["message"] == "this API key lacks the 'scan' scope that start_scan needs"
    event = last_event()
    assert (event.event_type, event.target, event.actor) == ("mcp.denied", "start_scan", alice_t)


def test_a_key_never_sees_another_users_accounts(alice_key: str, bob_t: User) -> None:
    status, body, _ = post(
        tool_call("check_tag_compliance", {"account_ids": [OTHER_ACCOUNT]}), key=alice_key
    )
    assert status == 200
    assert body["result"]["isError"] is True
    assert f"not visible to you: {OTHER_ACCOUNT}" in body["result"]["content"][0]["text"]
    event = last_event()
    assert (event.event_type, event.outcome, event.actor) == ("mcp.denied", "denied", event.actor)
    assert event.actor is not None
    assert event.actor.username == "alice"


def test_a_key_narrowed_to_accounts_is_narrower_than_its_user(
    accounts: Accounts, alice_t: User
) -> None:
    from compliance.models import AccountAccess

    AccountAccess.objects.create(user=alice_t, account=accounts.other_account)
    key = make_key(alice_t, account_ids=[OTHER_ACCOUNT])
    status, body, _ = post(tool_call("check_tag_compliance"), key=key)
    assert status == 200
    assert body["result"]["structuredContent"]["total_resources"] == 0


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(alice_key: str) -> None:
    status, _body, _ = post(tool_call("list_scans"), key=alice_key, x_forwarded_for="127.0.0.1")
    assert status == 200
    event = last_event()
    assert (event.event_type, event.client_address) == ("mcp.call", PEER)
    assert ApiKey.objects.get().last_used_from == PEER


def test_forwarded_for_is_believed_from_a_trusted_proxy(alice_key: str, settings: Any) -> None:
    settings.TRUSTED_PROXY_CIDRS = [ipaddress.ip_network("10.0.0.0/8")]
    status, _body, _ = post(
        tool_call("list_scans"),
        key=alice_key,
        peer="10.0.0.5",
        x_forwarded_for="127.0.0.1, 198.51.100.9",
    )
    assert status == 200
    assert last_event().client_address == "198.51.100.9"


def test_foreign_origin_gets_403_and_a_listed_one_passes(alice_key: str, settings: Any) -> None:
    status, body, _ = post(tool_call("list_scans"), key=alice_key, origin="https://evil.example")
    assert status == 403
    assert body["error"]["data"]["reason"] == "origin"
    assert (last_event().event_type, last_event().detail["reason"]) == ("mcp.denied", "origin")
    settings.MCP_ALLOWED_ORIGINS = ["https://finops.example"]
    status, _body, _ = post(tool_call("list_scans"), key=alice_key, origin="https://finops.example")
    assert status == 200


def test_unknown_host_gets_421(alice_key: str) -> None:
    status, body, _ = post(tool_call("list_scans"), key=alice_key, host="rebind.example")
    assert status == 421
    assert body["error"]["data"]["reason"] == "host"
    assert last_event().detail["reason"] == "host"


def test_correlation_id_is_taken_when_well_formed_and_echoed(alice_key: str) -> None:
    _status, _body, headers = post(
        rpc("tools/list"), key=alice_key, x_correlation_id="req-12345678"
    )
    assert headers["x-correlation-id"] == "req-12345678"
    _status, _body, headers = post(rpc("tools/list"), key=alice_key, x_correlation_id="bad id!")
    assert headers["x-correlation-id"] != "bad id!"
    assert len(headers["x-correlation-id"]) == 32
