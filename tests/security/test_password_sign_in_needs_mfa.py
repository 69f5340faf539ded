"""A password alone does not open the dashboard: its owner sets up a second factor first."""

from __future__ import annotations

import time

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.contrib.auth.models import User
from django.test import Client, RequestFactory, override_settings

from compliance.models import Scan
from tests.conftest import _csrf, sign_in_with_mfa

SETUP = "/accounts/2fa/totp/activate/"
REAUTHENTICATE = "/accounts/reauthenticate/"


def _password_sign_in(client: Client, user: User, password: str) -> None:
    response = client.post(
        "/accounts/login/",
        {"login": user.username, "password": password, **_csrf(client, "/accounts/login/")},
    )
    assert response.status_code == 302


def test_a_password_only_session_is_sent_to_set_up_a_second_factor(alice: User) -> None:
    client = Client()
    _password_sign_in(client, alice, "alice-password-123")
    response = client.get("/violations/?region=eu-west-1")
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Fviolations%2F%3Fregion%3Deu-west-1"


def test_a_password_only_session_starts_nothing(charlie: User) -> None:
    client = Client()
    _password_sign_in(client, charlie, "charlie-password-123")
    response = client.post("/scans/start", {"regions": "eu-west-1"})
    assert response.status_code == 302
    assert response["Location"].startswith(SETUP)
    assert Scan.objects.count() == 0


def _confirm_password(client: Client, password: str) -> None:
    """Sent to set up a second factor moments after signing in, the person is not asked for
    the password again (allauth asks before an authenticator is added; the sign-in counts)."""
    response = client.get("/")
    assert response["Location"] == f"{SETUP}?next=%2F"
    assert client.get(SETUP).status_code == 200


def test_a_sign_in_older_than_the_reauthentication_window_asks_for_the_password(
    alice: User,
) -> None:
    client = Client()
    _password_sign_in(client, alice, "alice-password-123")
    session = client.session
    records = session["account_authentication_methods"]
    records[-1]["at"] -= 301
    session.save()
    assert client.get("/")["Location"] == f"{SETUP}?next=%2F"
    response = client.get(SETUP)
    assert response["Location"] == f"{REAUTHENTICATE}?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"


def test_the_setup_pages_and_sign_out_stay_open(alice: User) -> None:
    client = Client()
    _password_sign_in(client, alice, "alice-password-123")
    _confirm_password(client, "alice-password-123")
    assert client.get(SETUP).status_code == 200
    assert client.get("/accounts/logout/").status_code == 200


def test_setting_up_the_second_factor_opens_the_dashboard(alice: User) -> None:
    client = Client()
    _password_sign_in(client, alice, "alice-password-123")
    _confirm_password(client, "alice-password-123")
    form = _csrf(client, SETUP)
    secret = client.session[SECRET_SESSION_KEY]
    left = 30 - time.time() % 30
    if left < 2:
        time.sleep(left + 0.05)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(SETUP, {"code": code, **form})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_password_and_second_factor_pass(alice: User) -> None:
    client = Client()
    sign_in_with_mfa(client, alice, "alice-password-123")
    assert client.get("/").status_code == 200


def test_an_sso_session_passes(alice: User) -> None:
    """allauth records an SSO sign-in as ``socialaccount``, as its SSO flows do."""
    client = Client()
    client.force_login(alice)
    request = RequestFactory().get("/")
    request.session = client.session
    record_authentication(request, alice, "socialaccount", provider="oidc", uid="alice-at-idp")
    request.session.save()
    assert client.get("/").status_code == 200


@override_settings(PASSWORD_SIGNIN_REQUIRES_MFA=False)
def test_the_requirement_can_be_switched_off(alice: User) -> None:
    client = Client()
    _password_sign_in(client, alice, "alice-password-123")
    assert client.get("/").status_code == 200
