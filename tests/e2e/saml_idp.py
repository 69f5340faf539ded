"""A SAML 2.0 identity provider for the tests: signed responses, and a small HTTP IdP.

- :class:`SigningKey` and :func:`signed_response` make the responses an IdP posts to the
  assertion consumer, signed with python3-saml's own signer (xmlsec), for the tests of what the
  consumer accepts and refuses (tests/compliance/test_saml.py);
- ``python -m tests.e2e.saml_idp`` serves an IdP with one person, as the browser tests use it:
  it takes an AuthnRequest by the HTTP-Redirect binding, shows a sign-in form, and posts the
  signed response back to the service provider's assertion consumer (HTTP-POST binding).
  Its configuration is the JSON in ``SAML_IDP_CONFIG`` (see :func:`serve`).
"""

from __future__ import annotations

import base64
import html
import json
import os
import secrets
import sys
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants  # type: ignore[import-untyped]
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"


@dataclass(frozen=True)
class SigningKey:
    """An IdP's RSA key and self-signed certificate, both PEM."""

    private_key: str
    certificate: str

    @classmethod
    def generate(cls, common_name: str = "idp.example.com") -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return cls(
            private_key=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        )

    @property
    def certificate_body(self) -> str:
        """The certificate as ``SAML_IDP_X509_CERT`` takes it: base64 without the PEM lines."""
        return "".join(line for line in self.certificate.splitlines() if "CERTIFICATE" not in line)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return f"_{secrets.token_hex(20)}"


@dataclass(frozen=True)
class Assertion:
    """What an IdP asserts about one sign-in, and to whom (audience, recipient)."""

    issuer: str
    audience: str
    recipient: str
    in_response_to: str | None
    name_id: str
    attributes: dict[str, list[str]]
    #: How long from now the assertion is valid: negative for one that has expired.
    lifetime: timedelta = timedelta(minutes=5)
    id: str = field(default_factory=_new_id)

    def xml(self) -> str:
        now = datetime.now(UTC)
        not_on_or_after = _instant(now + self.lifetime)
        in_response_to = (
            f" InResponseTo={quoteattr(self.in_response_to)}" if self.in_response_to else ""
        )
        attributes = "".join(
            f"<saml:Attribute Name={quoteattr(name)}>"
            + "".join(
                f"<saml:AttributeValue>{html.escape(value)}</saml:AttributeValue>"
                for value in values
            )
            + "</saml:Attribute>"
            for name, values in self.attributes.items()
        )
        return (
            f'<saml:Assertion xmlns:saml="{SAML}" ID={quoteattr(self.id)} Version="2.0"'
            f' IssueInstant="{_instant(now)}">'
            f"<saml:Issuer>{html.escape(self.issuer)}</saml:Issuer>"
            "<saml:Subject>"
            '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">'
            f"{html.escape(self.name_id)}</saml:NameID>"
            '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">'
            f'<saml:SubjectConfirmationData NotOnOrAfter="{not_on_or_after}"'
            f" Recipient={quoteattr(self.recipient)}{in_response_to}/>"
            "</saml:SubjectConfirmation></saml:Subject>"
            f'<saml:Conditions NotBefore="{_instant(now - timedelta(minutes=1))}"'
            f' NotOnOrAfter="{not_on_or_after}">'
            f"<saml:AudienceRestriction><saml:Audience>{html.escape(self.audience)}"
            "</saml:Audience></saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{_instant(now)}" SessionIndex="{_new_id()}">'
            "<saml:AuthnContext><saml:AuthnContextClassRef>"
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"
            f"<saml:AttributeStatement>{attributes}</saml:AttributeStatement>"
            "</saml:Assertion>"
        )


def sign(xml: str, key: SigningKey, *, sha1: bool = False) -> str:
    """``xml`` with an enveloped RSA-SHA256 signature of its root element, as IdPs sign
    (RSA-SHA1 with ``sha1``, as old ones did)."""
    algorithms = (
        {
            "sign_algorithm": OneLogin_Saml2_Constants.RSA_SHA1,
            "digest_algorithm": OneLogin_Saml2_Constants.SHA1,
        }
        if sha1
        else {}
    )
    signed: bytes = OneLogin_Saml2_Utils.add_sign(
        xml, key.private_key, key.certificate, **algorithms
    )
    return signed.decode()


def response_xml(
    assertions: str, *, issuer: str, destination: str, in_response_to: str | None
) -> str:
    """A successful ``samlp:Response`` around ``assertions`` (the XML of one or more)."""
    answers = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
    return (
        f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{_new_id()}"'
        f' Version="2.0" IssueInstant="{_instant(datetime.now(UTC))}"'
        f" Destination={quoteattr(destination)}{answers}>"
        f"<saml:Issuer>{html.escape(issuer)}</saml:Issuer>"
        '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
        f"</samlp:Status>{assertions}</samlp:Response>"
    )


def encoded(xml: str) -> str:
    """A response as the HTTP-POST binding carries it (``SAMLResponse``)."""
    return base64.b64encode(xml.encode()).decode()


def signed_response(assertion: Assertion, key: SigningKey, *, destination: str) -> str:
    """The XML of a response an IdP would send: the assertion signed, the message not."""
    return response_xml(
        sign(assertion.xml(), key),
        issuer=assertion.issuer,
        destination=destination,
        in_response_to=assertion.in_response_to,
    )


def authn_request(saml_request: str) -> etree._Element:
    """The AuthnRequest of an HTTP-Redirect binding's ``SAMLRequest`` (base64 of raw DEFLATE)."""
    inflated = zlib.decompress(base64.b64decode(saml_request), -15)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(inflated, parser)


# --- The HTTP identity provider ---------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP</title></head>
<body><main>{body}</main></body></html>"""

_SIGN_IN = """<h1>Sign in to the test identity provider</h1>{error}
<form method="post" action="/sso">
<input type="hidden" name="request_id" value="{request_id}">
<input type="hidden" name="relay_state" value="{relay_state}">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>"""

# The HTTP-POST binding: a form the browser posts to the service provider. Real IdPs submit it
# with a script; a button keeps this page free of scripts and the test presses it.
_POST_BACK = """<h1>Signed in</h1>
<form method="post" action="{acs}">
<input type="hidden" name="SAMLResponse" value="{response}">
<input type="hidden" name="RelayState" value="{relay_state}">
<button type="submit">Continue to the service</button>
</form>"""


def _handler(config: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    key = SigningKey(private_key=config["private_key"], certificate=config["certificate"])
    sp, person = config["sp"], config["person"]

    class IdentityProvider(BaseHTTPRequestHandler):
        def _page(self, status: int, body: str) -> None:
            content = _PAGE.format(body=body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def _sign_in_form(self, status: int, request_id: str, relay_state: str, error: str) -> None:
            self._page(
                status,
                _SIGN_IN.format(
                    error=f"<p role='alert'>{html.escape(error)}</p>" if error else "",
                    request_id=html.escape(request_id),
                    relay_state=html.escape(relay_state),
                ),
            )

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/health":
                self._page(200, "ok")
                return
            query = parse_qs(parts.query)
            if parts.path != "/sso" or "SAMLRequest" not in query:
                self._page(404, "Not found")
                return
            request = authn_request(query["SAMLRequest"][0])
            issuer = request.findtext(f"{{{SAML}}}Issuer")
            if issuer != sp["entity_id"]:
                self._page(400, f"Unknown service provider {html.escape(str(issuer))}")
                return
            relay_state = query.get("RelayState", [""])[0]
            self._sign_in_form(200, str(request.get("ID", "")), relay_state, "")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            request_id, relay_state = form.get("request_id", ""), form.get("relay_state", "")
            if (form.get("username"), form.get("password")) != (
                person["login"],
                person["password"],
            ):
                self._sign_in_form(401, request_id, relay_state, "Wrong username or password")
                return
            assertion = Assertion(
                issuer=config["entity_id"],
                audience=sp["entity_id"],
                recipient=sp["acs_url"],
                in_response_to=request_id or None,
                name_id=person["login"],
                attributes=person["attributes"],
            )
            response = signed_response(assertion, key, destination=sp["acs_url"])
            self._page(
                200,
                _POST_BACK.format(
                    acs=html.escape(sp["acs_url"]),
                    response=encoded(response),
                    relay_state=html.escape(relay_state),
                ),
            )

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"saml-idp: {format % args}\n")

    return IdentityProvider


def idp_and_sp_settings(
    idp_url: str, app_url: str, login: str, password: str, attributes: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """A new IdP at ``idp_url`` for the app at ``app_url``: its configuration (for
    :func:`serve`) and the app's environment that trusts it, as an operator would set it."""
    key = SigningKey.generate("127.0.0.1")
    entity_id = f"{idp_url}/metadata"
    config = {
        "port": urlsplit(idp_url).port,
        "entity_id": entity_id,
        "private_key": key.private_key,
        "certificate": key.certificate,
        "sp": {
            "entity_id": f"{app_url}/accounts/saml/sso/metadata/",
            "acs_url": f"{app_url}/accounts/saml/sso/acs/",
        },
        "person": {"login": login, "password": password, "attributes": attributes},
    }
    environment = {
        "SAML_IDP_ENTITY_ID": entity_id,
        "SAML_IDP_SSO_URL": f"{idp_url}/sso",
        "SAML_IDP_X509_CERT": key.certificate_body,
    }
    return config, environment


def serve(config: dict[str, Any]) -> None:
    """Serve the IdP on 127.0.0.1. ``config``: ``port``, ``entity_id``, ``private_key`` and
    ``certificate`` (PEM), ``sp`` (``entity_id``, ``acs_url``) and ``person`` (``login``,
    ``password``, ``attributes``: name -> values)."""
    server = ThreadingHTTPServer(("127.0.0.1", int(config["port"])), _handler(config))
    print(f"saml-idp listening on http://127.0.0.1:{config['port']}", flush=True)  # noqa: T201
    server.serve_forever()


if __name__ == "__main__":
    serve(json.loads(os.environ["SAML_IDP_CONFIG"]))
