"""Every wrong second-factor code is audited: at sign-in and at reauthentication."""

from __future__ import annotations

import json

from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth.models import User
from django.test import Client

from compliance.models import AuditEvent
from tests.conftest import _csrf, sign_in_with_mfa

WRONG_CODES = ["000000", "123456", "999999"]


def _password_step(client: Client, user: User, password: str) -> None:
    response = client.post(
        "/accounts/login/",
        {"login": user.username, "password": password, **_csrf(client, "/accounts/login/")},
    )
    assert response["Location"] == "/accounts/2fa/authenticate/"


def _failures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type="auth.mfa_failed").order_by("id"))


def test_each_wrong_code_at_sign_in_writes_one_row(client: Client, alice: User) -> None:
    TOTP.activate(alice, generate_totp_secret())
    _password_step(client, alice, "alice-password-123")
    for code in WRONG_CODES:
        form = _csrf(client, "/accounts/2fa/authenticate/")
        response = client.post("/accounts/2fa/authenticate/", {"code": code, **form})
        assert response.status_code == 200  # the form again, with its error
    rows = _failures()
    assert [(e.actor, e.target, e.outcome, e.client_address) for e in rows] == [
        (alice, "alice", "denied", "127.0.0.1")
    ] * len(WRONG_CODES)
    assert rows[0].detail == {"authenticator": "totp", "reauthentication": False}
    stored = json.dumps([e.detail for e in rows])
    assert not any(code in stored for code in WRONG_CODES)


def test_a_wrong_recovery_code_is_audited(client: Client, alice: User) -> None:
    TOTP.activate(alice, generate_totp_secret())
    RecoveryCodes.activate(alice)
    _password_step(client, alice, "alice-password-123")
    form = _csrf(client, "/accounts/2fa/authenticate/")
    client.post("/accounts/2fa/authenticate/", {"code": "abcd1234", **form})
    assert len(_failures()) == 1
    assert "abcd1234" not in json.dumps(_failures()[0].detail)


def test_a_wrong_code_at_reauthentication_is_audited(client: Client, alice: User) -> None:
    sign_in_with_mfa(client, alice, "alice-password-123")
    form = _csrf(client, "/accounts/2fa/reauthenticate/")
    response = client.post("/accounts/2fa/reauthenticate/", {"code": "000000", **form})
    assert response.status_code == 200
    (row,) = _failures()
    assert (row.actor, row.detail["reauthentication"]) == (alice, True)


def test_a_right_code_writes_no_failure(client: Client, alice: User) -> None:
    sign_in_with_mfa(client, alice, "alice-password-123")
    assert _failures() == []
