"""The SAML assertion consumer with responses an identity provider would post, signed in the
test by a key the provider settings trust: what signs a person in (and with which role), and
what is refused and audited, with nobody created, changed or signed in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, override_settings
from lxml import etree  # type: ignore[import-untyped]

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions import roles
from finops_site import sso
from tests.e2e.saml_idp import (
    SAML,
    Assertion,
    SigningKey,
    authn_request,
    encoded,
    response_xml,
    sign,
    signed_response,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

pytestmark = pytest.mark.django_db

HOST = "finops.example.com"
IDP = "urn:example:idp"
ACS = f"http://{HOST}/accounts/saml/sso/acs/"
SP_ENTITY_ID = f"http://{HOST}/accounts/saml/sso/metadata/"
DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture(scope="module")
def idp_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def sp(monkeypatch: pytest.MonkeyPatch, idp_key: SigningKey) -> Iterator[Client]:
    """The service provider configured as an operator does: the IdP's entity ID, sign-in URL
    and certificate in the environment, groups mapped to roles."""
    monkeypatch.setenv("SAML_IDP_ENTITY_ID", IDP)
    monkeypatch.setenv("SAML_IDP_SSO_URL", "https://idp.example.com/sso")
    monkeypatch.setenv("SAML_IDP_X509_CERT", idp_key.certificate_body)
    monkeypatch.setenv("SSO_ROLE_GROUPS", "finops-admins=admin,finops-analysts=analyst")
    cache.clear()
    with override_settings(
        SOCIALACCOUNT_PROVIDERS=sso.providers(),
        SSO_ROLE_GROUPS=sso.role_groups("SSO_ROLE_GROUPS"),
        SSO_DEFAULT_ROLE="viewer",
        # python3-saml wants URLs with a dotted host name ("testserver" is refused).
        ALLOWED_HOSTS=[HOST],
    ):
        yield Client(HTTP_HOST=HOST)
    cache.clear()


def _start_sign_in(client: Client) -> str:
    """Press the SAML button: the ID of the AuthnRequest sent to the IdP."""
    response = client.post("/accounts/saml/sso/login/")
    assert response.status_code == 302
    saml_request = parse_qs(urlsplit(response["Location"]).query)["SAMLRequest"][0]
    return str(authn_request(saml_request).get("ID"))


def _assertion(request_id: str | None, groups: list[str], **changes: object) -> Assertion:
    assertion = Assertion(
        issuer=IDP,
        audience=SP_ENTITY_ID,
        recipient=ACS,
        in_response_to=request_id,
        name_id="erin@example.com",
        attributes={
            "email": ["erin@example.com"],
            "username": ["erin"],
            "groups": groups,
        },
    )
    return replace(assertion, **changes)  # type: ignore[arg-type]


def _post(client: Client, xml: str) -> _MonkeyPatchedWSGIResponse:
    return client.post(ACS, {"SAMLResponse": encoded(xml)}, follow=True)


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=EventType.SAML_REFUSED).order_by("id"))


# --- Accepted ---------------------------------------------------------------------------------


def test_a_signed_response_signs_the_person_in_with_the_role_their_group_maps_to(
    sp: Client, idp_key: SigningKey
) -> None:
    request_id = _start_sign_in(sp)
    xml = signed_response(_assertion(request_id, ["finops-analysts"]), idp_key, destination=ACS)
    response = _post(sp, xml)
    assert response.redirect_chain[-1] == ("/", 302)
    user = User.objects.get(username="erin")
    assert str(sp.session["_auth_user_id"]) == str(user.pk)
    assert roles.role_of(user) == roles.Role.ANALYST
    assert SocialAccount.objects.get(user=user).provider == "saml"
    (login,) = AuditEvent.objects.filter(event_type=EventType.LOGIN)
    assert (login.actor, login.target) == (user, "erin")
    assert _refusals() == []


def test_the_highest_role_of_several_groups_wins(sp: Client, idp_key: SigningKey) -> None:
    request_id = _start_sign_in(sp)
    assertion = _assertion(request_id, ["finops-analysts", "finops-admins", "staff"])
    _post(sp, signed_response(assertion, idp_key, destination=ACS))
    assert roles.role_of(User.objects.get(username="erin")) == roles.Role.ADMIN


def test_a_person_in_no_mapped_group_gets_the_default_role(sp: Client, idp_key: SigningKey) -> None:
    request_id = _start_sign_in(sp)
    _post(sp, signed_response(_assertion(request_id, ["sales"]), idp_key, destination=ACS))
    assert roles.role_of(User.objects.get(username="erin")) == roles.Role.VIEWER


# --- Refused and audited ----------------------------------------------------------------------


def _unsigned(request_id: str, key: SigningKey) -> str:
    return response_xml(
        _assertion(request_id, ["finops-admins"]).xml(),
        issuer=IDP,
        destination=ACS,
        in_response_to=request_id,
    )


def _signed_by_another_key(request_id: str, key: SigningKey) -> str:
    assertion = _assertion(request_id, ["finops-admins"])
    return signed_response(assertion, SigningKey.generate("attacker.example"), destination=ACS)


def _signed_with_sha1(request_id: str, key: SigningKey) -> str:
    signed = sign(_assertion(request_id, ["finops-admins"]).xml(), key, sha1=True)
    return response_xml(signed, issuer=IDP, destination=ACS, in_response_to=request_id)


def _tampered_after_signing(request_id: str, key: SigningKey) -> str:
    xml = signed_response(_assertion(request_id, ["finops-viewers"]), key, destination=ACS)
    return xml.replace("finops-viewers", "finops-admins")


def _injected_unsigned_assertion(request_id: str, key: SigningKey) -> str:
    """XSW: the IdP's signed assertion, and beside it a forged one the attacker wrote."""
    signed = sign(_assertion(request_id, ["sales"]).xml(), key)
    forged = _assertion(request_id, ["finops-admins"], name_id="mallory").xml()
    return response_xml(forged + signed, issuer=IDP, destination=ACS, in_response_to=request_id)


def _signature_moved_to_a_forged_assertion(request_id: str, key: SigningKey) -> str:
    """XSW: a forged assertion carries the IdP's signature, whose reference still resolves to
    the genuine assertion, hidden inside the forged one's Advice."""
    genuine = etree.fromstring(sign(_assertion(request_id, ["sales"]).xml(), key).encode())
    signature = genuine.find(f"{{{DS}}}Signature")
    assert signature is not None
    genuine.remove(signature)
    forged = etree.fromstring(
        _assertion(request_id, ["finops-admins"], name_id="mallory").xml().encode()
    )
    forged.insert(1, signature)  # after the Issuer, where a signature goes
    advice = etree.SubElement(forged, f"{{{SAML}}}Advice")
    advice.append(genuine)
    forged.find(f"{{{SAML}}}Conditions").addnext(advice)
    return response_xml(
        etree.tostring(forged).decode(), issuer=IDP, destination=ACS, in_response_to=request_id
    )


def _expired(request_id: str, key: SigningKey) -> str:
    assertion = _assertion(request_id, ["finops-admins"], lifetime=-timedelta(hours=1))
    return signed_response(assertion, key, destination=ACS)


def _for_another_service(request_id: str, key: SigningKey) -> str:
    assertion = _assertion(request_id, ["finops-admins"], audience="https://other.example.com/sp")
    return signed_response(assertion, key, destination=ACS)


def _sent_to_another_destination(request_id: str, key: SigningKey) -> str:
    other = "https://other.example.com/saml/acs/"
    return signed_response(_assertion(request_id, ["finops-admins"]), key, destination=other)


def _for_another_recipient(request_id: str, key: SigningKey) -> str:
    assertion = _assertion(request_id, ["finops-admins"], recipient="https://other.example.com/acs")
    return signed_response(assertion, key, destination=ACS)


def _from_another_issuer(request_id: str, key: SigningKey) -> str:
    assertion = _assertion(request_id, ["finops-admins"], issuer="urn:example:other-idp")
    return signed_response(assertion, key, destination=ACS)


def _answering_no_request_of_this_browser(request_id: str, key: SigningKey) -> str:
    """Validly signed, but made for a sign-in someone else started."""
    return signed_response(_assertion("_" + "0" * 40, ["finops-admins"]), key, destination=ACS)


def _started_at_the_idp(request_id: str, key: SigningKey) -> str:
    """Validly signed, answering no request: IdP-initiated sign-in, which is refused."""
    return signed_response(_assertion(None, ["finops-admins"]), key, destination=ACS)


@dataclass(frozen=True)
class Forgery:
    make: Callable[[str, SigningKey], str]
    check: str


FORGERIES = {
    "unsigned": Forgery(_unsigned, "signature"),
    "signed by another key": Forgery(_signed_by_another_key, "signature"),
    "signed with SHA-1": Forgery(_signed_with_sha1, "signature"),
    "tampered after signing": Forgery(_tampered_after_signing, "signature"),
    "wrapping: injected assertion": Forgery(_injected_unsigned_assertion, "signature"),
    "wrapping: moved signature": Forgery(_signature_moved_to_a_forged_assertion, "signature"),
    "expired": Forgery(_expired, "expiry"),
    "wrong audience": Forgery(_for_another_service, "audience"),
    "wrong destination": Forgery(_sent_to_another_destination, "destination"),
    "wrong recipient": Forgery(_for_another_recipient, "recipient"),
    "wrong issuer": Forgery(_from_another_issuer, "issuer"),
    "unsolicited": Forgery(_answering_no_request_of_this_browser, "unsolicited"),
    "started at the identity provider": Forgery(_started_at_the_idp, "unsolicited"),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_or_misaddressed_response_is_refused_and_audited(
    sp: Client, idp_key: SigningKey, name: str
) -> None:
    request_id = _start_sign_in(sp)
    users_before = list(User.objects.values_list("username", flat=True))
    response = _post(sp, FORGERIES[name].make(request_id, idp_key))
    assert response.status_code == 401
    assert "_auth_user_id" not in sp.session
    assert list(User.objects.values_list("username", flat=True)) == users_before
    assert not SocialAccount.objects.exists()
    (refusal,) = _refusals()
    assert (refusal.outcome, refusal.interface, refusal.target) == (
        AuditEvent.Outcome.DENIED,
        "web",
        sso.SAML_ORGANISATION,
    )
    assert (refusal.detail["method"], refusal.detail["check"]) == ("saml", FORGERIES[name].check)
    assert list(AuditEvent.objects.values_list("event_type", flat=True)) == [EventType.SAML_REFUSED]


def test_a_response_posted_again_is_refused_and_audited(sp: Client, idp_key: SigningKey) -> None:
    request_id = _start_sign_in(sp)
    xml = signed_response(_assertion(request_id, ["finops-analysts"]), idp_key, destination=ACS)
    _post(sp, xml)
    sp.post("/accounts/logout/")
    replayer = Client(HTTP_HOST=HOST)
    _start_sign_in(replayer)
    response = _post(replayer, xml)
    assert response.status_code == 401
    assert "_auth_user_id" not in replayer.session
    (refusal,) = _refusals()
    assert (refusal.detail["check"], refusal.client_address) == ("replayed", "127.0.0.1")
    assert AuditEvent.objects.filter(event_type=EventType.LOGIN).count() == 1


def test_a_replay_in_the_same_browser_is_refused_and_audited(
    sp: Client, idp_key: SigningKey
) -> None:
    request_id = _start_sign_in(sp)
    xml = signed_response(_assertion(request_id, ["finops-analysts"]), idp_key, destination=ACS)
    _post(sp, xml)
    sp.post("/accounts/logout/")
    _post(sp, xml)
    assert "_auth_user_id" not in sp.session
    assert [e.detail["check"] for e in _refusals()] == ["replayed"]


def test_a_wrapped_assertion_does_not_change_an_existing_persons_role(
    sp: Client, idp_key: SigningKey
) -> None:
    _post(sp, signed_response(_assertion(_start_sign_in(sp), ["sales"]), idp_key, destination=ACS))
    sp.post("/accounts/logout/")
    erin = User.objects.get(username="erin")
    request_id = _start_sign_in(sp)
    forged = _signature_moved_to_a_forged_assertion(request_id, idp_key).replace(
        "mallory", "erin@example.com"
    )
    _post(sp, forged)
    assert "_auth_user_id" not in sp.session
    assert roles.role_of(User.objects.get(pk=erin.pk)) == roles.Role.VIEWER
    assert [e.detail["check"] for e in _refusals()] == ["signature"]
