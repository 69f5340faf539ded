"""OAuth for /mcp: a real authorization-code + PKCE flow against the site's own authorization
server (allauth's provider views, through Django's test client), then the token at /mcp
through the ASGI application."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import stat
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import anyio
import pytest
import requests
from allauth.idp.oidc.models import Client as OAuthClient
from allauth.idp.oidc.models import Token
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from django.utils import timezone

from compliance.models import AuditEvent
from mcp_endpoint.oauth import public_fetch
from mcp_endpoint.oauth.adapter import McpOIDCAdapter
from mcp_endpoint.oauth.limits import checked_rate_limit
from mcp_endpoint.oauth.shared_state import CACHE_TABLE, cache_settings
from mcp_endpoint.oauth.signing_key import (
    checked_private_key,
    demo_private_key,
    new_private_key,
)
from tests.mcp_endpoint.conftest import (
    MCP_HEADERS,
    OTHER_ACCOUNT,
    Accounts,
    asgi_client,
    rpc,
    tool_call,
)

HOST = "127.0.0.1:8000"
ISSUER = f"http://{HOST}"
RESOURCE = f"{ISSUER}/mcp"
METADATA = f"{ISSUER}/.well-known/oauth-protected-resource/mcp"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
CLIENT_ID = "test-assistant"
INVALID_TOKEN_CHALLENGE = (
    'Bearer realm="mcp", error="invalid_token", error_description="invalid access token", '
    f'scope="read scan", resource_metadata="{METADATA}"'
)
#: One RSA key for the module: generating one per test would only cost time.
SIGNING_KEY = new_private_key()


@pytest.fixture
def signing_key(settings: Any) -> str:
    settings.IDP_OIDC_PRIVATE_KEY = SIGNING_KEY
    return SIGNING_KEY


@pytest.fixture
def assistant(transactional_db: None, signing_key: str) -> OAuthClient:
    """An MCP client registered by an admin: public (PKCE), allowed both MCP scopes."""
    client = OAuthClient(id=CLIENT_ID, name="Test assistant", type=OAuthClient.Type.PUBLIC)
    client.set_scopes(["openid", "read", "scan"])
    client.set_redirect_uris([REDIRECT_URI])
    client.set_grant_types(["authorization_code", "refresh_token"])
    client.save()
    return client


def authorization_code(
    user: User,
    *,
    scope: str = "read",
    resource: str | None = RESOURCE,
    client_id: str = CLIENT_ID,
) -> tuple[str, str]:
    """The person's part of the flow: authorize (sign in, consent); the code that comes back
    to the client's redirect URI, and the PKCE verifier the client keeps for the exchange."""
    browser = Client(HTTP_HOST=HOST)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    state = secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **({"resource": resource} if resource else {}),
    }
    authorize = "/identity/o/authorize?" + urlencode(query)

    response = browser.get(authorize)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    # Signed in as by SSO (a password sign-in needs a second factor: the SDK's flow in
    # test_oauth_clients.py signs in with a password and a TOTP code).
    browser.force_login(user)

    consent = browser.get(authorize)
    assert consent.status_code == 200
    signed = re.search(rb'name="request" value="([^"]+)"', consent.content)
    assert signed is not None, consent.content[:2000]
    response = browser.post(
        "/identity/o/authorize",
        {"request": signed.group(1).decode(), "scopes": scope.split(), "action": "grant"},
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    answer = parse_qs(location.query)
    assert answer["state"] == [state]
    return answer["code"][0], verifier


def obtain_token(
    user: User,
    *,
    scope: str = "read",
    resource: str | None = RESOURCE,
    client_id: str = CLIENT_ID,
) -> str:
    """The flow an MCP client drives: authorize (the person signs in and consents), then the
    code and the PKCE verifier exchanged for an access token at the token endpoint."""
    code, verifier = authorization_code(user, scope=scope, resource=resource, client_id=client_id)
    response = Client(HTTP_HOST=HOST).post(
        "/identity/o/api/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
            **({"resource": resource} if resource else {}),
        },
    )
    assert response.status_code == 200, response.content
    issued = response.json()
    assert (issued["token_type"], issued["scope"]) == ("Bearer", scope)
    return str(issued["access_token"])


def call(
    body: Any, *, token: str | None = None, method: str = "POST"
) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    async def main() -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        headers = dict(MCP_HEADERS)
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        async with asgi_client() as client:
            with anyio.fail_after(10):
                response = await client.request(method, "/mcp", json=body, headers=headers)
            payload = response.json() if response.content else None
            return response.status_code, payload, dict(response.headers)

    return anyio.run(main)


def last_event() -> AuditEvent:
    return AuditEvent.objects.filter(event_type__in=["auth.failed", "mcp.denied", "mcp.call"])[0]


# --- metadata --------------------------------------------------------------------------------


def test_protected_resource_metadata_names_this_site_as_authorization_server(
    signing_key: str,
) -> None:
    response = Client(HTTP_HOST=HOST).get("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["read", "scan"],
        "bearer_methods_supported": ["header"],
        "resource_name": "FinOps tag compliance (MCP)",
    }
    assert response["Access-Control-Allow-Origin"] == "*"


def test_protected_resource_metadata_is_get_only(signing_key: str) -> None:
    response = Client(HTTP_HOST=HOST).post("/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 405


def test_without_a_signing_key_no_authorization_server_is_named_or_served(
    settings: Any,
) -> None:
    settings.IDP_OIDC_PRIVATE_KEY = ""
    browser = Client(HTTP_HOST=HOST)
    document = browser.get("/.well-known/oauth-protected-resource/mcp").json()
    assert "authorization_servers" not in document
    assert document["resource"] == RESOURCE
    for path in (
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/identity/o/authorize",
    ):
        assert browser.get(path).status_code == 404, path
    assert browser.post("/identity/o/api/token").status_code == 404


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_authorization_server_metadata_offers_the_mcp_scopes(
    db: None, signing_key: str, path: str
) -> None:
    document = Client(HTTP_HOST=HOST).get(path).json()
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/identity/o/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/identity/o/api/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["scopes_supported"] == ["openid", "profile", "email", "read", "scan"]
    # Self-registration is off unless MCP_OAUTH_DCR_ENABLED / MCP_OAUTH_CIMD_ENABLED.
    assert "registration_endpoint" not in document
    assert "client_id_metadata_document_supported" not in document


def test_consent_page_names_the_mcp_scopes(assistant: OAuthClient, alice_t: User) -> None:
    browser = Client(HTTP_HOST=HOST)
    browser.force_login(alice_t)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "read scan",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
            "resource": RESOURCE,
        }
    )
    page = browser.get(f"/identity/o/authorize?{query}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Read tag compliance and cost data of the AWS accounts you may see" in text
    assert "Start scans of those accounts" in text
    # Granting redirects to the client: the page's form-action allows that origin, no other.
    directives = dict(
        directive.strip().split(" ", 1)
        for directive in page["Content-Security-Policy"].split(";")
        if directive.strip()
    )
    assert directives["form-action"] == "'self' http://127.0.0.1:33418"
    assert directives["script-src"] == "'self'"


# --- the token at /mcp -------------------------------------------------------------------------


def test_a_read_token_calls_tools_as_its_user_and_is_audited(
    assistant: OAuthClient, alice_t: User
) -> None:
    token = obtain_token(alice_t)
    status, body, _ = call(tool_call("get_tagging_policy"), token=token)
    assert status == 200
    assert body is not None
    assert body["result"]["isError"] is False
    assert body["result"]["structuredContent"]["required_tags"]
    event = last_event()
    assert (event.event_type, event.outcome, event.target, event.actor) == (
        "mcp.call",
        "success",
        "get_tagging_policy",
        alice_t,
    )
    assert (event.detail["client_id"], event.detail["key_prefix"]) == (CLIENT_ID, "")


def test_tools_list_works_with_a_token(assistant: OAuthClient, alice_t: User) -> None:
    token = obtain_token(alice_t)
    status, body, _ = call(rpc("tools/list"), token=token)
    assert status == 200
    assert body is not None
    assert "start_scan" in {tool["name"] for tool in body["result"]["tools"]}


def test_a_token_without_scan_gets_a_403_scope_challenge(
    assistant: OAuthClient, alice_t: User
) -> None:
    token = obtain_token(alice_t, scope="read")
    status, body, headers = call(tool_call("start_scan"), token=token)
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer realm="mcp", error="insufficient_scope", scope="scan", '
        f'resource_metadata="{METADATA}"'
    )
    assert body is not None
    assert body["error"]["message"] == (
        "this access token lacks the 'scan' scope that start_scan needs"
    )
    event = last_event()
    assert (event.event_type, event.actor, event.detail["reason"]) == (
        "mcp.denied",
        alice_t,
        "insufficient_scope",
    )
    assert event.detail["client_id"] == CLIENT_ID


def test_a_token_never_sees_accounts_its_user_cannot(
    assistant: OAuthClient, alice_t: User, bob_t: User
) -> None:
    token = obtain_token(alice_t, scope="read scan")
    status, body, _ = call(
        tool_call("check_tag_compliance", {"account_ids": [OTHER_ACCOUNT]}), token=token
    )
    assert status == 200
    assert body is not None
    assert body["result"]["isError"] is True
    assert f"not visible to you: {OTHER_ACCOUNT}" in body["result"]["content"][0]["text"]
    event = last_event()
    assert (event.event_type, event.actor, event.detail["client_id"]) == (
        "mcp.denied",
        alice_t,
        CLIENT_ID,
    )


def test_a_missing_token_gets_a_challenge_naming_the_metadata(accounts: Accounts) -> None:
    status, _body, headers = call(tool_call("list_scans"))
    assert status == 401
    assert headers["www-authenticate"] == (
        f'Bearer realm="mcp", scope="read scan", resource_metadata="{METADATA}"'
    )
    assert last_event().detail["reason"] == "missing"


def _expire(token: str) -> None:
    Token.objects.by_value(token).update(expires_at=timezone.now() - timedelta(seconds=1))


def _revoke(token: str) -> None:
    response = Client(HTTP_HOST=HOST).post(
        "/identity/o/api/revoke", {"token": token, "client_id": CLIENT_ID}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("spoil", "reason"), [(_expire, "expired"), (_revoke, "unknown")], ids=["expired", "revoked"]
)
def test_expired_and_revoked_tokens_get_401(
    assistant: OAuthClient, alice_t: User, spoil: Any, reason: str
) -> None:
    token = obtain_token(alice_t)
    spoil(token)
    status, body, headers = call(tool_call("list_scans"), token=token)
    assert status == 401
    assert headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE
    assert body is not None
    # The client is told only "invalid_token"; the audit row keeps why.
    assert body["error"]["data"]["reason"] == "invalid_token"
    event = last_event()
    assert event.detail["reason"] == reason
    assert (event.event_type, event.outcome) == ("auth.failed", "denied")
    assert event.detail["reason"] == reason


@pytest.mark.parametrize(
    "resource",
    [f"{ISSUER}/other-service", "http://elsewhere.example.com/mcp", None],
    ids=["other-path", "other-host", "no-resource"],
)
def test_a_token_issued_for_another_audience_gets_401(
    assistant: OAuthClient, alice_t: User, resource: str | None
) -> None:
    token = obtain_token(alice_t, resource=resource)
    status, _body, headers = call(tool_call("list_scans"), token=token)
    assert status == 401
    assert headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE
    event = last_event()
    assert (event.detail["reason"], event.detail["client_id"]) == ("wrong_audience", CLIENT_ID)


@pytest.mark.parametrize(
    ("presented", "reason"),
    [
        ("short", "malformed"),
        ("has spaces in it, not a token at all", "malformed"),
        ("x" * 5000, "malformed"),
        (secrets.token_urlsafe(64), "unknown"),
    ],
    ids=["short", "bad-characters", "too-long", "never-issued"],
)
def test_malformed_and_unknown_tokens_get_401(
    assistant: OAuthClient, presented: str, reason: str
) -> None:
    status, body, headers = call(tool_call("list_scans"), token=presented)
    assert status == 401
    assert headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE
    assert body is not None
    assert body["error"]["data"]["reason"] == "invalid_token"
    assert last_event().detail["reason"] == reason


def test_a_token_of_a_deactivated_user_gets_401(assistant: OAuthClient, alice_t: User) -> None:
    token = obtain_token(alice_t)
    User.objects.filter(pk=alice_t.pk).update(is_active=False)
    status, _body, headers = call(tool_call("list_scans"), token=token)
    assert status == 401
    assert headers["www-authenticate"] == INVALID_TOKEN_CHALLENGE
    assert last_event().detail["reason"] == "inactive_user"


def test_tokens_are_refused_once_the_signing_key_is_removed(
    assistant: OAuthClient, alice_t: User, settings: Any
) -> None:
    token = obtain_token(alice_t)
    settings.IDP_OIDC_PRIVATE_KEY = ""
    status, _body, _headers = call(tool_call("list_scans"), token=token)
    assert status == 401
    assert last_event().detail["reason"] == "oauth_disabled"


def test_guards_count_per_client_and_user(
    assistant: OAuthClient, alice_t: User, bob_t: User, settings: Any
) -> None:
    settings.MCP_RATE_LIMIT_PER_MINUTE = 2
    alice_token = obtain_token(alice_t)
    second_alice_token = obtain_token(alice_t)
    bob_token = obtain_token(bob_t)

    def limited(token: str, ident: int) -> bool:
        status, body, _ = call(rpc("tools/call", {"name": "list_scans"}, ident), token=token)
        assert status == 200
        assert body is not None
        return bool(body["result"]["isError"])

    # Two tokens of one client for one person share a budget, as calls with one key do.
    assert [limited(alice_token, 1), limited(second_alice_token, 2)] == [False, False]
    assert limited(alice_token, 3) is True
    event = last_event()
    assert (event.detail["limit"], event.detail["client_id"]) == ("rate_limit", CLIENT_ID)
    # Another person through the same client has their own.
    assert limited(bob_token, 4) is False


# --- GET /mcp ------------------------------------------------------------------------------------


def test_get_on_mcp_is_405_at_once(assistant: OAuthClient, alice_t: User) -> None:
    token = obtain_token(alice_t)
    status, body, headers = call(None, token=token, method="GET")
    assert status == 405
    assert headers["allow"] == "POST"
    assert body is not None
    assert "POST only" in body["error"]["message"]


# --- clients registering themselves, and the signing key ------------------------------------------


def test_a_self_registered_client_may_ask_for_the_mcp_scopes(db: None) -> None:
    client = OAuthClient(id="dcr-client", name="Registered", type=OAuthClient.Type.PUBLIC)
    client.set_scopes(["openid"])  # what allauth gives a registration without "scope"
    client.data = {"dcr": True, "client_metadata": {}}
    client.save()
    client.refresh_from_db()
    assert client.get_scopes() == ["openid", "profile", "email", "read", "scan"]
    assert client.get_default_scopes() == ["read"]


def test_an_admin_registered_client_keeps_its_scopes(assistant: OAuthClient) -> None:
    assistant.refresh_from_db()
    assert assistant.get_scopes() == ["openid", "read", "scan"]
    assert assistant.get_default_scopes() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/client.json",
        "https://10.1.2.3/client.json",
        "https://[::1]/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/client.json",
    ],
)
def test_client_metadata_documents_are_never_fetched_from_internal_hosts(url: str) -> None:
    assert McpOIDCAdapter().is_cimd_url_allowed(url) is False


@pytest.mark.parametrize(
    ("addresses", "allowed"),
    [
        (["93.184.215.14"], True),
        (["2606:2800:21f:cb07:6820:80da:af6b:8b2c"], True),
        (["93.184.215.14", "10.0.0.7"], False),
        ([], False),
    ],
    ids=["public", "public-ipv6", "one-internal-address", "no-address"],
)
def test_client_metadata_documents_are_fetched_only_when_every_address_is_public(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str], allowed: bool
) -> None:
    def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        assert (host, port) == ("client.example.com", 443)
        return [(None, None, None, "", (address, port)) for address in addresses]

    monkeypatch.setattr("mcp_endpoint.oauth.public_fetch.socket.getaddrinfo", resolve)
    adapter = McpOIDCAdapter()
    assert adapter.is_cimd_url_allowed("https://client.example.com/client.json") is allowed


def test_signing_key_must_be_an_rsa_pem_key() -> None:
    assert checked_private_key("", "OIDC_IDP_PRIVATE_KEY") == ""
    assert checked_private_key(SIGNING_KEY, "OIDC_IDP_PRIVATE_KEY") == SIGNING_KEY.strip() + "\n"
    with pytest.raises(ImproperlyConfigured, match=r"^OIDC_IDP_PRIVATE_KEY: expected a PEM"):
        checked_private_key("not a key", "OIDC_IDP_PRIVATE_KEY")


def test_signing_key_below_2048_bits_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    # A weak key on purpose: the point is that it is refused.
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    small = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ImproperlyConfigured, match="at least 2048 bits"):
        checked_private_key(small.decode(), "OIDC_IDP_PRIVATE_KEY")


def test_demo_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = demo_private_key(tmp_path)
    key_file = tmp_path / "oidc_private_key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert demo_private_key(tmp_path) == first
    assert checked_private_key(first, "test") == first


# --- what real clients send ------------------------------------------------------------------

LEGACY_SECRET = "k%7&x=y+z%zz"  # the alphabet of secrets issued before: %, &, =, + and all


@pytest.fixture
def confidential(transactional_db: None, signing_key: str) -> OAuthClient:
    """A confidential MCP client registered before secrets were URL-safe."""
    client = OAuthClient(id="confidential-assistant", name="Confidential", secret="unused")
    client.set_secret(LEGACY_SECRET)
    client.set_scopes(["read"])
    client.set_redirect_uris([REDIRECT_URI])
    client.set_grant_types(["authorization_code", "refresh_token"])
    client.save()
    return client


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def exchange(code: str, verifier: str, client_id: str = "", **extra: Any) -> Any:
    return Client(HTTP_HOST=HOST).post(
        "/identity/o/api/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "resource": RESOURCE,
            **({"client_id": client_id} if client_id else {}),
        },
        **extra,
    )


def test_basic_credentials_are_form_decoded_as_rfc_6749_says(
    confidential: OAuthClient, alice_t: User
) -> None:
    code, verifier = authorization_code(alice_t, client_id=confidential.id)
    encoded = basic(quote(confidential.id, safe=""), quote(LEGACY_SECRET, safe=""))
    response = exchange(code, verifier, HTTP_AUTHORIZATION=encoded)
    assert response.status_code == 200, response.content
    assert response.json()["token_type"] == "Bearer"


def test_basic_credentials_sent_without_form_encoding_still_authenticate(
    confidential: OAuthClient, alice_t: User
) -> None:
    code, verifier = authorization_code(alice_t, client_id=confidential.id)
    response = exchange(code, verifier, HTTP_AUTHORIZATION=basic(confidential.id, LEGACY_SECRET))
    assert response.status_code == 200, response.content


def test_a_wrong_secret_is_refused_either_way(confidential: OAuthClient, alice_t: User) -> None:
    code, verifier = authorization_code(alice_t, client_id=confidential.id)
    wrong = basic(confidential.id, quote("k%7&x=y+z%zY", safe=""))
    response = exchange(code, verifier, HTTP_AUTHORIZATION=wrong)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_new_client_secrets_are_url_safe() -> None:
    secrets_made = {McpOIDCAdapter().generate_client_secret() for _ in range(50)}
    assert len(secrets_made) == 50
    for secret in secrets_made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{64}", secret), secret
        assert quote(secret, safe="") == secret


def test_with_metadata_documents_on_basic_auth_needs_no_client_id_in_the_body(
    confidential: OAuthClient, alice_t: User, settings: Any
) -> None:
    settings.IDP_OIDC_CIMD_ENABLED = True
    code, verifier = authorization_code(alice_t, client_id=confidential.id)
    response = exchange(code, verifier, HTTP_AUTHORIZATION=basic(confidential.id, LEGACY_SECRET))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "path", ["/identity/o/api/token", "/identity/o/api/revoke"], ids=["token", "revoke"]
)
def test_with_metadata_documents_on_a_request_naming_no_client_is_a_401(
    db: None, signing_key: str, settings: Any, path: str
) -> None:
    settings.IDP_OIDC_CIMD_ENABLED = True
    response = Client(HTTP_HOST=HOST).post(
        path, {"grant_type": "authorization_code", "code": "x", "token": "x"}
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    "spelling",
    ["HTTP://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/mcp", "Http://127.0.0.1:8000/mcp"],
)
def test_resource_indicators_compare_as_uris(
    assistant: OAuthClient, alice_t: User, accounts: Accounts, spelling: str
) -> None:
    token = obtain_token(alice_t, resource=spelling)
    assert Token.objects.by_value(token).get().get_resources() == [RESOURCE]
    status, body, _headers = call(tool_call("list_scans"), token=token)
    assert status == 200, body


def test_a_default_port_and_upper_case_host_name_the_same_resource() -> None:
    from mcp_endpoint.oauth.client_requests import normalized_resource

    assert normalized_resource("HTTPS://MCP.Example.COM:443/mcp") == "https://mcp.example.com/mcp"
    assert normalized_resource("http://[::1]:80/mcp") == "http://[::1]/mcp"
    assert normalized_resource("https://mcp.example.com:8443/Mcp") == (
        "https://mcp.example.com:8443/Mcp"
    )


def test_only_the_code_flow_is_advertised(db: None, signing_key: str) -> None:
    document = Client(HTTP_HOST=HOST).get("/.well-known/oauth-authorization-server").json()
    assert document["response_types_supported"] == ["code"]
    # allauth would also list client credentials and the device flow, which /mcp cannot use.
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]


def authorize_url(**params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "read",
        "state": "s",
        "resource": RESOURCE,
        **params,
    }
    return "/identity/o/authorize?" + urlencode({k: v for k, v in query.items() if v})


def signed_in(user: User) -> Client:
    browser = Client(HTTP_HOST=HOST)
    browser.force_login(user)
    return browser


@pytest.mark.parametrize("method", ["plain", ""], ids=["plain", "no-method"])
def test_pkce_plain_is_refused(assistant: OAuthClient, alice_t: User, method: str) -> None:
    response = signed_in(alice_t).get(
        authorize_url(code_challenge="a" * 43, code_challenge_method=method)
    )
    assert response.status_code == 400
    assert b"code_challenge_method=S256" in response.content


def test_pkce_is_required_of_public_clients(assistant: OAuthClient, alice_t: User) -> None:
    response = signed_in(alice_t).get(authorize_url())
    assert response.status_code == 302
    answer = parse_qs(urlsplit(response["Location"]).query)
    assert answer["error"] == ["invalid_request"]
    assert answer["error_description"] == ["Code challenge required."]


def test_the_authorization_servers_error_page_is_a_400(
    assistant: OAuthClient, alice_t: User
) -> None:
    response = signed_in(alice_t).get(authorize_url(client_id="no-such-client"))
    assert response.status_code == 400
    assert b"Error" in response.content


# --- dynamic registration: what is offered, and how fast ---------------------------------------


def register(metadata: dict[str, Any], address: str = "203.0.113.9") -> Any:
    """A registration, as allauth's registration view answers it (its URL exists only when
    MCP_OAUTH_DCR_ENABLED is set at start-up)."""
    from allauth.core import context
    from allauth.idp.oidc import views as provider_views
    from django.test import RequestFactory

    request = RequestFactory().post(
        "/identity/o/api/clients",
        data=json.dumps(metadata),
        content_type="application/json",
        HTTP_HOST=HOST,
        REMOTE_ADDR=address,
    )
    with context.request_context(request):
        return provider_views.client_registration(request)


MCP_CLIENT = {"redirect_uris": [REDIRECT_URI], "client_name": "An assistant"}


def test_registrations_are_issued_url_safe_secrets(db: None, signing_key: str) -> None:
    response = register(MCP_CLIENT)
    assert response.status_code == 201, response.content
    secret = json.loads(response.content)["client_secret"]
    assert quote(secret, safe="") == secret


def test_a_registration_asking_for_an_implicit_flow_is_refused(db: None, signing_key: str) -> None:
    response = register({**MCP_CLIENT, "response_types": ["token"]})
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_client_metadata"
    assert not OAuthClient.objects.exists()


def test_a_registration_asking_for_client_credentials_is_refused(
    db: None, signing_key: str
) -> None:
    response = register({**MCP_CLIENT, "grant_types": ["client_credentials"]})
    assert response.status_code == 400
    assert "client_credentials" in json.loads(response.content)["error_description"]
    assert not OAuthClient.objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,<script>x</script>",
        "file:///etc/passwd",
        "http://assistant.example/callback",
        "https://assistant.example/callback#frag",
        "/callback",
        "http://[::1",
        "https://[zz]/cb",
        "http://[::1]:99999/cb",
        "https://exa mple.com/cb",
        "https://evil.example\\@app.example/cb",
        "https://user@app.example/cb",
    ],
)
def test_a_registration_with_a_dangerous_redirect_uri_is_refused(
    db: None, signing_key: str, uri: str
) -> None:
    response = register({**MCP_CLIENT, "redirect_uris": [uri]})
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_client_metadata"
    assert not OAuthClient.objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "https://assistant.example/api/mcp/auth_callback",
        "http://localhost:6274/oauth/callback",
        "http://[::1]:8080/cb",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
    ],
)
def test_https_loopback_and_application_redirect_uris_are_accepted(
    db: None, signing_key: str, uri: str
) -> None:
    response = register({**MCP_CLIENT, "redirect_uris": [uri]})
    assert response.status_code == 201, response.content


def test_a_registration_nested_too_deeply_is_refused_and_audited(
    db: None, signing_key: str
) -> None:
    """Through the wrappers the served registration URL has (its URL exists only when
    MCP_OAUTH_DCR_ENABLED is set at start-up); allauth's view would answer a RecursionError."""
    from allauth.idp.oidc import views as provider_views
    from django.test import RequestFactory

    from mcp_endpoint.oauth import views as oauth_views

    body = '{"redirect_uris": ' + "[" * 100_000 + "]" * 100_000 + "}"
    request = RequestFactory().post(
        "/identity/o/api/clients", data=body, content_type="application/json", HTTP_HOST=HOST
    )
    served = oauth_views.audited(
        "client_registration",
        oauth_views.registration_request(provider_views.client_registration),
    )
    response = served(request)
    assert response.status_code == 400
    assert json.loads(response.content)["error"] == "invalid_client_metadata"
    assert not OAuthClient.objects.exists()
    event = AuditEvent.objects.get(event_type="auth.oauth_refused")
    assert event.target == "client_registration"


def test_a_userinfo_request_with_a_bad_token_is_audited(db: None, signing_key: str) -> None:
    response = Client(HTTP_HOST=HOST).get(
        "/identity/o/api/userinfo", HTTP_AUTHORIZATION="Bearer garbage"
    )
    assert response.status_code == 401
    event = AuditEvent.objects.get(event_type="auth.oauth_refused")
    assert (event.target, event.outcome) == ("userinfo", "denied")


def test_one_address_may_register_more_than_three_clients_a_minute(
    db: None, signing_key: str
) -> None:
    statuses = [register(MCP_CLIENT).status_code for _ in range(10)]
    assert statuses == [201] * 10


def test_the_per_address_registration_limit_is_a_setting(
    db: None, signing_key: str, settings: Any
) -> None:
    settings.IDP_OIDC_RATE_LIMITS = {"client_registration": "2/m/ip"}
    statuses = [register(MCP_CLIENT).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert register(MCP_CLIENT, address="198.51.100.7").status_code == 201


def test_registrations_stop_at_the_hourly_ceiling_of_the_server(
    db: None, signing_key: str, settings: Any
) -> None:
    settings.MCP_OAUTH_DCR_MAX_PER_HOUR = 2
    statuses = [register(MCP_CLIENT, address=f"203.0.113.{n}").status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    assert OAuthClient.objects.count() == 2


@pytest.mark.parametrize("value", ["", "3", "3/m/user", "many/m", "3/m,", "0/m"])
def test_a_malformed_registration_limit_stops_start_up(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="MCP_OAUTH_DCR_RATE_LIMIT"):
        checked_rate_limit(value, "MCP_OAUTH_DCR_RATE_LIMIT")


def test_registration_limits_are_read_in_allauths_notation() -> None:
    assert checked_rate_limit("30/m, 300/h/ip", "X") == "30/m/ip,300/h/ip"


# --- state shared by every web process -------------------------------------------------------


def test_without_redis_the_cache_is_a_table_every_process_shares(db: None) -> None:
    from django.core.cache import caches
    from django.db import connection

    with override_settings(CACHES={"default": cache_settings("")}):
        shared = caches["default"]
        shared.set("allauth.idp.oidc.authorization_code[c:x]", {"sub": "1"}, 60)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT cache_key FROM {CACHE_TABLE}")  # noqa: S608
            keys = [row[0] for row in cursor.fetchall()]
        assert any("authorization_code[c:x]" in key for key in keys)
        assert shared.get("allauth.idp.oidc.authorization_code[c:x]") == {"sub": "1"}


def test_with_redis_the_cache_is_redis() -> None:
    assert cache_settings("redis://127.0.0.1:6379/3") == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/3",
        "KEY_FUNCTION": "mcp_endpoint.oauth.shared_state.cache_key",
    }


@pytest.mark.parametrize(
    "key",
    ["code[client:a\x00b]", "code[" + "x" * 300 + "]", "code[\u202e\ud800]"],
    ids=["nul", "long", "bidi-and-surrogate"],
)
def test_cache_keys_from_client_input_are_stored_safely(db: None, key: str) -> None:
    from django.core.cache import caches

    with override_settings(CACHES={"default": cache_settings("")}):
        shared = caches["default"]
        shared.set(key, "kept", 60)
        assert shared.get(key) == "kept"
        assert shared.get(key + "!") is None


# --- client ID metadata documents: fetched from public addresses only, checked on connect ----


class Listener:
    """A TCP socket on 127.0.0.1 that counts the connections it is sent."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _address = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    opened = Listener()
    yield opened
    opened.close()


def resolving_to(*answers: list[str]) -> Any:
    """A ``getaddrinfo`` giving each answer in turn (the last one from then on)."""
    remaining = list(answers)

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        addresses = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_allauth_fetches_metadata_documents_through_the_checked_fetch() -> None:
    from allauth.idp.oidc.internal import cimd

    assert cimd.requests.get is public_fetch.get


def test_a_metadata_host_rebinding_to_loopback_is_never_connected_to(
    monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    from allauth.idp.oidc.internal import cimd

    url = f"https://client.example.com:{listener.port}/client.json"
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to(["93.184.215.14"], ["127.0.0.1"]))
    assert McpOIDCAdapter().is_cimd_url_allowed(url) is True  # the first answer: public
    with pytest.raises(requests.ConnectionError, match="does not resolve to public addresses"):
        cimd.fetch_metadata(url)  # the second answer: loopback
    assert listener.connections == 0


def test_the_checked_fetch_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, listener: Listener
) -> None:
    # Loopback stands in for a public address here: the listener is the only server at hand.
    monkeypatch.setattr(public_fetch, "public_addresses", lambda host, port: ["127.0.0.1"])
    with pytest.raises(requests.RequestException):  # the listener speaks no TLS
        public_fetch.get(f"https://client.example.com:{listener.port}/client.json", timeout=2)
    assert listener.connections == 1


def test_the_checked_fetch_refuses_plain_http(listener: Listener) -> None:
    with pytest.raises(requests.RequestException):
        public_fetch.get(f"http://127.0.0.1:{listener.port}/client.json", timeout=2)
    assert listener.connections == 0


# --- refusals of the authorization server are audited ----------------------------------------


def oauth_refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type="auth.oauth_refused").order_by("pk"))


def test_failed_client_authentication_is_audited(confidential: OAuthClient, alice_t: User) -> None:
    code, verifier = authorization_code(alice_t, client_id=confidential.id)
    exchange(code, verifier, HTTP_AUTHORIZATION=basic(confidential.id, "wrong-secret"))
    [event] = oauth_refusals()
    assert (event.target, event.outcome, event.interface) == ("token", "denied", "web")
    assert event.detail == {"status": 401, "error": "invalid_client", "client_id": confidential.id}
    assert "wrong-secret" not in json.dumps(event.detail)


def test_a_replayed_code_is_audited(assistant: OAuthClient, alice_t: User) -> None:
    code, verifier = authorization_code(alice_t)
    first = exchange(code, verifier, client_id=CLIENT_ID)
    assert first.status_code == 200
    replayed = exchange(code, verifier, client_id=CLIENT_ID)
    assert replayed.status_code == 400
    [event] = oauth_refusals()
    assert event.detail == {"status": 400, "error": "invalid_grant", "client_id": CLIENT_ID}


def test_a_refused_authorization_request_is_audited(assistant: OAuthClient, alice_t: User) -> None:
    signed_in(alice_t).get(authorize_url(code_challenge="a" * 43, code_challenge_method="plain"))
    [event] = oauth_refusals()
    assert event.target == "authorization"
    assert event.detail == {"status": 400, "error": "error_page", "client_id": CLIENT_ID}


def test_audited_client_ids_keep_printable_characters_only(
    db: None, signing_key: str, settings: Any
) -> None:
    response = Client(HTTP_HOST=HOST).post(
        "/identity/o/api/token",
        {
            "grant_type": "authorization_code",
            "code": "x",
            "client_id": "evil\u202e\x07" + "x" * 500,
        },
    )
    assert response.status_code in {400, 401}
    [event] = oauth_refusals()
    assert event.detail["client_id"] == "evil" + "x" * 196


def test_basic_credentials_with_a_nul_byte_are_refused_not_looked_up(
    db: None, signing_key: str
) -> None:
    response = Client(HTTP_HOST=HOST).post(
        "/identity/o/api/token",
        {"grant_type": "authorization_code", "code": "x"},
        HTTP_AUTHORIZATION=basic("a%00b", "secret%25"),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


# --- client metadata documents are held to the rules of a registration -----------------------

CIMD_URL = "https://client.example.com/client.json"


def _document(**fields: Any) -> dict[str, Any]:
    return {"client_id": CIMD_URL, "redirect_uris": [REDIRECT_URI], **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {"redirect_uris": ["http://evil.example/cb"]},
        {"response_types": ["code", "token"]},
        {"grant_types": ["authorization_code", "client_credentials"]},
    ],
    ids=["plain-http-redirect", "implicit", "client-credentials"],
)
def test_a_metadata_document_asking_for_what_is_not_offered_is_refused(
    fields: dict[str, Any],
) -> None:
    from allauth.idp.oidc.internal import cimd
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        cimd.validate_metadata(CIMD_URL, urlsplit(CIMD_URL), _document(**fields))


def test_a_metadata_document_within_the_rules_is_read() -> None:
    from allauth.idp.oidc.internal import cimd

    client = cimd.validate_metadata(CIMD_URL, urlsplit(CIMD_URL), _document())
    assert client.get_redirect_uris() == [REDIRECT_URI]


def test_a_metadata_document_nested_too_deeply_is_a_refusal_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from allauth.idp.oidc.internal import cimd
    from django.core.exceptions import ValidationError

    class Answer:
        status_code = 200
        headers: dict[str, str] = {}

        def iter_content(self, chunk_size: int) -> Iterator[bytes]:
            yield b"[" * 1_024 + b"]" * 1_024  # as deep as the 2 KiB allauth reads allows

        def close(self) -> None:
            pass

    monkeypatch.setattr(public_fetch, "get", lambda url, **kwargs: Answer())
    monkeypatch.setattr(cimd.requests, "get", public_fetch.get)
    with pytest.raises(ValidationError, match="nested too deeply"):
        cimd.fetch_metadata(CIMD_URL)


# --- the consent page's form-action comes from parsed parts only ------------------------------


def test_a_redirect_uri_cannot_write_csp_directives(alice_t: User) -> None:
    hostile = "https://x.example;script-src-elem * 'unsafe-inline'"
    response = signed_in(alice_t).get(authorize_url(redirect_uri=hostile))
    policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src-elem" not in policy
    assert "unsafe-inline" not in policy


def test_a_rate_limited_flood_is_audited_once_a_minute_not_once_a_request(db: None) -> None:
    from django.http import JsonResponse
    from django.test import RequestFactory

    from mcp_endpoint.oauth import views as oauth_views

    def limited(request: Any) -> Any:
        return JsonResponse({"error": "slow_down"}, status=429)

    def refused(request: Any) -> Any:
        return JsonResponse({"error": "invalid_client"}, status=401)

    token = oauth_views.audited("token", limited)
    for _ in range(20):
        assert token(RequestFactory().post("/t", REMOTE_ADDR="198.51.100.4")).status_code == 429
    token(RequestFactory().post("/t", REMOTE_ADDR="198.51.100.5"))
    for _ in range(3):
        oauth_views.audited("token", refused)(RequestFactory().post("/t"))
    rows = AuditEvent.objects.filter(event_type="auth.oauth_refused")
    assert sorted(row.detail["status"] for row in rows) == [401, 401, 401, 429, 429]
