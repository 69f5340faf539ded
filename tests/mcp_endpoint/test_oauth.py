"""OAuth for /mcp: a real authorization-code + PKCE flow against the site's own authorization
server (allauth's provider views, through Django's test client), then the token at /mcp
through the ASGI application."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import pytest
from allauth.idp.oidc.models import Client as OAuthClient
from allauth.idp.oidc.models import Token
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from compliance.models import AuditEvent
from mcp_endpoint.oauth.adapter import McpOIDCAdapter
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
PASSWORD = "alice-password-123"
INVALID_TOKEN_CHALLENGE = (
    'Bearer realm="mcp", error="invalid_token", error_description="invalid access token", '
    f'resource_metadata="{METADATA}"'
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


def obtain_token(
    user: User,
    *,
    scope: str = "read",
    resource: str | None = RESOURCE,
    client_id: str = CLIENT_ID,
    password: str = PASSWORD,
) -> str:
    """The flow an MCP client drives: authorize (the person signs in and consents), then the
    code and the PKCE verifier exchanged for an access token at the token endpoint."""
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
    response = browser.post(response["Location"], {"login": user.username, "password": password})
    assert (response.status_code, response["Location"]) == (302, authorize)

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

    response = browser.post(
        "/identity/o/api/token",
        {
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
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
    assert headers["www-authenticate"] == f'Bearer realm="mcp", resource_metadata="{METADATA}"'
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
    assert body["error"]["data"]["reason"] == reason
    event = last_event()
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
    assert body["error"]["data"]["reason"] == reason


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
    bob_token = obtain_token(bob_t, password="bob-password-123")

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
    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        assert (host, port) == ("client.example.com", 443)
        return [(None, None, None, "", (address, port)) for address in addresses]

    monkeypatch.setattr("mcp_endpoint.oauth.adapter.socket.getaddrinfo", resolve)
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
