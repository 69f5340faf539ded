"""Sign-in: audit of every login, failure and logout; rate limits; roles; the admin's gate."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth.models import Group, User
from django.test import Client, RequestFactory, override_settings

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions import roles
from compliance.web import signin
from compliance.web.signals import sso_roles
from tests.conftest import sign_in_with_mfa

pytestmark = pytest.mark.django_db


def _events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


def test_a_password_sign_in_and_sign_out_are_audited_with_the_client_address(alice: User) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = client.post("/accounts/login/", {"login": "alice", "password": "alice-password-123"})
    assert (response.status_code, response["Location"]) == (302, "/")
    (login,) = _events(EventType.LOGIN)
    assert (login.actor, login.interface, login.client_address) == (alice, "web", "203.0.113.7")
    client.post("/accounts/logout/")
    (logout,) = _events(EventType.LOGOUT)
    assert (logout.actor, logout.target) == (alice, "alice")


def test_a_failed_sign_in_is_audited_without_the_password(alice: User) -> None:
    client = Client(REMOTE_ADDR="198.51.100.9")
    response = client.post("/accounts/login/", {"login": "alice", "password": "wrong-guess-1"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    (failed,) = _events(EventType.LOGIN_FAILED)
    assert (failed.outcome, failed.target, failed.client_address) == (
        AuditEvent.Outcome.DENIED,
        "alice",
        "198.51.100.9",
    )
    assert "wrong-guess-1" not in str(failed.detail)


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(alice: User) -> None:
    spoofed = Client(REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
    spoofed.post("/accounts/login/", {"login": "alice", "password": "nope-nope-1"})
    with override_settings(TRUSTED_PROXY_CIDRS=[__import__("ipaddress").ip_network("10.0.0.0/8")]):
        proxied = Client(REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="192.0.2.44")
        proxied.post("/accounts/login/", {"login": "alice", "password": "nope-nope-2"})
    assert [e.client_address for e in _events(EventType.LOGIN_FAILED)] == [
        "198.51.100.9",
        "192.0.2.44",
    ]


def test_repeated_failures_lock_the_account_out_even_with_the_right_password(alice: User) -> None:
    client = Client()
    for attempt in range(5):
        client.post("/accounts/login/", {"login": "alice", "password": f"guess-{attempt}-xx"})
    response = client.post("/accounts/login/", {"login": "alice", "password": "alice-password-123"})
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert len(_events(EventType.LOGIN)) == 0


def test_nobody_can_sign_up_on_their_own() -> None:
    response = Client().post(
        "/accounts/signup/",
        {"username": "mallory", "password1": "x-long-password-1", "password2": "x-long-password-1"},
    )
    assert response.status_code == 200
    assert b"Sign Up Closed" in response.content
    assert not User.objects.filter(username="mallory").exists()


def test_pages_ask_for_sign_in_and_come_back_after_it(alice: User) -> None:
    client = Client()
    response = client.get("/resources/?region=eu-west-1")
    assert response["Location"] == "/accounts/login/?next=/resources/%3Fregion%3Deu-west-1"
    response = client.post(
        response["Location"], {"login": "alice", "password": "alice-password-123"}
    )
    assert response["Location"] == "/resources/?region=eu-west-1"


# --- roles ---------------------------------------------------------------------------------


def test_migrate_creates_the_three_roles_with_exactly_their_permissions() -> None:
    for role, names in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == set(names), role


def test_roles_grow_from_viewer_to_admin(alice: User) -> None:
    roles.assign_role(alice, roles.Role.VIEWER)
    alice = User.objects.get(pk=alice.pk)
    assert alice.has_perm(roles.VIEW)
    assert not alice.has_perm(roles.EXPORT)
    assert not alice.is_staff
    roles.assign_role(alice, roles.Role.ANALYST)
    alice = User.objects.get(pk=alice.pk)
    assert alice.has_perm(roles.EXPORT)
    assert alice.has_perm(roles.START_SCAN)
    assert not alice.has_perm(roles.VIEW_CHECKLIST)
    roles.assign_role(alice, roles.Role.ADMIN)
    alice = User.objects.get(pk=alice.pk)
    assert alice.has_perm(roles.VIEW_CHECKLIST)
    assert alice.is_staff
    assert list(alice.groups.values_list("name", flat=True)) == ["admin"]
    roles.assign_role(alice, None)
    alice = User.objects.get(pk=alice.pk)
    assert (alice.is_staff, alice.groups.count(), roles.role_of(alice)) == (False, 0, None)


def test_a_signed_in_person_without_a_role_is_told_which_role_a_page_needs(bob: User) -> None:
    roles.assign_role(bob, None)
    client = Client()
    client.force_login(bob)
    response = client.get("/")
    assert response.status_code == 403
    assert b"viewer" in response.content


# --- SSO role mapping ----------------------------------------------------------------------


def _sso_login(user: User, extra_data: dict[str, Any]) -> SocialLogin:
    account = SocialAccount(user=user, provider="sso", uid=user.username, extra_data=extra_data)
    return SocialLogin(user=user, account=account)


@override_settings(SSO_ROLE_GROUPS={}, SSO_DEFAULT_ROLE="viewer")
def test_without_a_group_mapping_only_a_first_sso_sign_in_gets_the_default_role() -> None:
    assert signin.role_for_sign_in([], first_sign_in=True) == (True, roles.Role.VIEWER)
    assert signin.role_for_sign_in(["anything"], first_sign_in=False) == (False, roles.Role.VIEWER)


@override_settings(
    SSO_ROLE_GROUPS={"finops-admins": "admin", "finops": "analyst"}, SSO_DEFAULT_ROLE=None
)
def test_with_a_group_mapping_the_idp_decides_at_every_sign_in() -> None:
    assert signin.role_for_sign_in(["finops", "finops-admins"], first_sign_in=False) == (
        True,
        roles.Role.ADMIN,
    )
    assert signin.role_for_sign_in(["finops"], first_sign_in=True) == (True, roles.Role.ANALYST)
    assert signin.role_for_sign_in(["sales"], first_sign_in=False) == (True, None)


@override_settings(
    SSO_ROLE_GROUPS={"finops": "analyst"}, SSO_DEFAULT_ROLE=None, SSO_GROUPS_CLAIM="groups"
)
def test_an_sso_sign_in_applies_the_mapped_role_and_audits_the_change(alice: User) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1")
    # allauth keeps OIDC claims under "userinfo" and "id_token", SAML attributes at the top.
    roles.assign_role(alice, None)
    oidc = _sso_login(alice, {"userinfo": {"groups": ["finops"]}, "id_token": {}})
    sso_roles(User, request=request, user=alice, sociallogin=oidc)
    assert roles.role_of(alice) is roles.Role.ANALYST
    saml = _sso_login(alice, {"groups": "sales"})
    sso_roles(User, request=request, user=alice, sociallogin=saml)
    assert roles.role_of(alice) is None
    changes = _events(EventType.ROLE_CHANGED)
    assert [(e.detail["from"], e.detail["to"]) for e in changes] == [
        (None, "analyst"),
        ("analyst", None),
    ]
    assert changes[0].detail["idp_groups"] == ["finops"]


# --- the admin site -------------------------------------------------------------------------


def test_the_admin_has_no_login_form_of_its_own() -> None:
    response = Client().get("/admin/login/?next=/admin/compliance/")
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fcompliance%2F"
    response = Client().get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_the_admin_refuses_a_password_only_session_and_audits_it(superuser: User) -> None:
    client = Client()
    client.post("/accounts/login/", {"login": "root", "password": "root-password-123"})
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"second factor" in response.content
    (refused,) = _events(EventType.ADMIN_REFUSED)
    assert (refused.actor, refused.outcome) == (superuser, AuditEvent.Outcome.DENIED)


def test_the_admin_opens_after_a_second_factor(superuser: User) -> None:
    client = Client()
    sign_in_with_mfa(client, superuser, "root-password-123")
    assert client.get("/admin/").status_code == 200
    assert _events(EventType.MFA_CHANGED) == []  # activated directly, not through the pages
    assert len(_events(EventType.LOGIN)) == 1


@override_settings(ADMIN_REQUIRES_MFA_OR_SSO=False)
def test_the_second_factor_requirement_can_be_switched_off(superuser: User) -> None:
    client = Client()
    client.post("/accounts/login/", {"login": "root", "password": "root-password-123"})
    assert client.get("/admin/").status_code == 200


# --- SAML and SSO-only ------------------------------------------------------------------------


def _self_signed_certificate() -> str:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


@pytest.fixture
def saml_configured(monkeypatch: pytest.MonkeyPatch) -> Any:
    from finops_site import sso

    monkeypatch.setenv("SAML_IDP_ENTITY_ID", "urn:example:idp")
    monkeypatch.setenv("SAML_IDP_SSO_URL", "https://idp.example.com/sso")
    monkeypatch.setenv("SAML_IDP_X509_CERT", _self_signed_certificate())
    # python3-saml wants URLs with a dotted host name ("testserver" is refused).
    with override_settings(
        SOCIALACCOUNT_PROVIDERS=sso.providers(), ALLOWED_HOSTS=["finops.example.com"]
    ):
        yield Client(HTTP_HOST="finops.example.com")


def test_saml_publishes_service_provider_metadata(saml_configured: Client) -> None:
    response = saml_configured.get("/accounts/saml/sso/metadata/")
    assert response.status_code == 200
    assert b"EntityDescriptor" in response.content
    assert b"http://finops.example.com/accounts/saml/sso/acs/" in response.content


def test_saml_sign_in_sends_the_person_to_the_identity_provider(saml_configured: Client) -> None:
    response = saml_configured.post("/accounts/saml/sso/login/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://idp.example.com/sso?SAMLRequest=")


def test_the_sign_in_page_offers_the_configured_sso(saml_configured: Client) -> None:
    response = saml_configured.get("/accounts/login/")
    assert b"SAML sign-on" in response.content


@override_settings(SOCIALACCOUNT_ONLY=True)
def test_sso_only_mode_refuses_password_sign_in(alice: User) -> None:
    client = Client()
    response = client.post("/accounts/login/", {"login": "alice", "password": "alice-password-123"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_error_pages_are_the_products_own_without_details(alice: User) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"not in the accounts you can see" in response.content
    assert b"Traceback" not in response.content


def test_rate_limits_count_an_ipv6_client_by_its_64_block() -> None:
    from django.test import RequestFactory

    from compliance.web.signin import AccountAdapter

    def counted_as(address: str) -> str:
        return AccountAdapter().get_client_ip(RequestFactory().get("/", REMOTE_ADDR=address))

    assert (
        counted_as("2001:db8:1:2::1") == counted_as("2001:db8:1:2:ffff::9") == ("2001:db8:1:2::/64")
    )
    assert counted_as("2001:db8:1:3::1") != counted_as("2001:db8:1:2::1")
    assert counted_as("203.0.113.7") == "203.0.113.7"
