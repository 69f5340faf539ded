"""A refused API key answers the same whatever was wrong with it: no prefix oracle.

An unknown prefix, a wrong secret for a real prefix, an expired, a revoked key and a key of a
deactivated user get the same status, body and headers; only the audit row says which it was.
"""

# The MCP endpoint's fixtures (accounts, alice_t) are imported to be used here.
# ruff: noqa: F401, F811

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.permissions.roles import Role, assign_role
from mcp_endpoint import keys
from mcp_endpoint.models import ApiKey
from tests.mcp_endpoint.conftest import accounts, alice_t, make_key, tool_call
from tests.mcp_endpoint.test_auth import post

#: Headers that differ between any two responses (a fresh id, the clock).
PER_RESPONSE = {"x-correlation-id", "date"}


def _refused_keys(alice: User) -> dict[str, str]:
    good = make_key(alice, name="good")
    expired = make_key(alice, name="expired")
    ApiKey.objects.filter(prefix=expired[:12]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked = make_key(alice, name="revoked")
    ApiKey.objects.filter(prefix=revoked[:12]).update(revoked_at=timezone.now())
    leaver = User.objects.create_user("leaver", password="leaver-password-123")
    assign_role(leaver, Role.VIEWER)
    inactive = make_key(leaver, name="inactive")
    User.objects.filter(pk=leaver.pk).update(is_active=False)
    return {
        "unknown": "ftc_abcdefgh_" + "x" * 43,
        "wrong": good[:12] + "_" + "y" * 43,
        "expired": expired,
        "revoked": revoked,
        "inactive_user": inactive,
    }


def _answer(key: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, body, headers = post(tool_call("list_scans"), key=key)
    body["error"]["data"].pop("correlation_id")
    return status, body, {k: v for k, v in headers.items() if k not in PER_RESPONSE}


def test_every_refused_key_gets_the_same_answer(alice_t: User) -> None:
    answers = {reason: _answer(key) for reason, key in _refused_keys(alice_t).items()}
    first = answers["unknown"]
    assert first[0] == 401
    assert first[1]["error"]["data"] == {"reason": "invalid_token"}
    assert first[1]["error"]["message"] == "invalid API key (unknown, expired or revoked)"
    for reason, answer in answers.items():
        assert answer == first, reason


def test_the_audit_row_keeps_the_precise_reason(alice_t: User) -> None:
    for reason, key in _refused_keys(alice_t).items():
        _answer(key)
        event = AuditEvent.objects.filter(event_type="auth.failed").latest("id")
        assert (event.detail["reason"], event.outcome) == (reason, "denied")
        assert event.detail["error"] == "invalid API key (unknown, expired or revoked)"


@pytest.mark.parametrize("which", ["unknown", "wrong"])
def test_an_unknown_prefix_costs_the_same_hashing_as_a_wrong_secret(
    alice_t: User, monkeypatch: pytest.MonkeyPatch, settings: Any, which: str
) -> None:
    """Response time must not tell a real prefix from an unknown one: both compute the HMAC
    once per secret key in use (the current one and each fallback)."""
    settings.SECRET_KEY_FALLBACKS = ["an-older-secret-key-kept-for-rotation"]
    presented = _refused_keys(alice_t)[which]
    computed: list[str] = []
    real_hash = keys.hash_key

    def counting(key: str, secret: str | None = None) -> str:
        computed.append(key)
        return real_hash(key, secret)

    monkeypatch.setattr(keys, "hash_key", counting)
    verdict = keys.verify(presented)
    assert (verdict.key, verdict.reason, len(computed)) == (None, which, 2)
