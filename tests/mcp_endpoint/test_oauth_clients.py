"""OAuth as a real MCP client does it: the official MCP SDK's own OAuth client
(``mcp.client.auth.OAuthClientProvider``) against the site served as in production.

gunicorn with the uvicorn worker and two workers, DEBUG off, over SQLite in a temp dir, with a
signing key and dynamic client registration on; once with the cache in the database (no
Redis) and once with Redis. The SDK discovers the authorization server from the 401, registers
itself with a client secret (HTTP Basic at the token endpoint, form-encoded as RFC 6749 asks),
sends the person to the authorization endpoint with PKCE S256 and a resource indicator; the
person (a browser signed in with a password and a TOTP code) consents; the SDK exchanges the
code and calls a tool. The exchange runs many times over: with an authorization code kept in
one worker's memory, about half of them would land on the other worker and fail. Then the
refresh token rotates, and revocation ends both tokens.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from tests.servers import gunicorn, run_python, site_environment

pytestmark = [pytest.mark.slow, pytest.mark.own_server]

#: Enough exchanges that codes kept per worker would fail some of them (each lands on either
#: of two workers: all 20 on the issuing one happens about once in a million runs).
EXCHANGES = 20
REDIRECT_URI = "http://127.0.0.1:33418/callback"
USERNAME = "alice"
PASSWORD = "alice-password-123"
#: A Redis database of these tests' own (tests/mcp_endpoint/test_guards.py uses 15).
REDIS_DB = 12


@dataclass(frozen=True)
class Served:
    base_url: str
    totp_secret: str
    log: Path
    database: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def oauth_refusals(self) -> list[tuple[str, dict[str, Any]]]:
        """The authorization server's audited refusals, read from outside the server."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=20) as db:
            rows = db.execute(
                "SELECT target, detail FROM compliance_auditevent "
                "WHERE event_type = 'auth.oauth_refused' ORDER BY id"
            ).fetchall()
        return [(target, json.loads(detail)) for target, detail in rows]


def _environment(workdir: Path, redis_url: str) -> dict[str, str]:
    from mcp_endpoint.oauth.signing_key import new_private_key

    return site_environment(
        workdir,
        {
            "OIDC_IDP_PRIVATE_KEY": new_private_key(),
            "MCP_OAUTH_DCR_ENABLED": "true",
            # One tool call per exchange: the guards' limits are tested in test_guards.py.
            "MCP_MAX_IDENTICAL_CALLS": "1000",
            "MCP_RATE_LIMIT_PER_MINUTE": "1000",
            **({"REDIS_URL": redis_url} if redis_url else {}),
        },
    )


@contextmanager
def served(workdir: Path, redis_url: str = "") -> Iterator[Served]:
    """The site under gunicorn with two uvicorn workers, seeded by a child process."""
    env = _environment(workdir, redis_url)
    facts_file = workdir / "facts.json"
    run_python(env, "-m", "tests.mcp_endpoint.test_oauth_clients", str(facts_file))
    log = workdir / "server.log"
    with gunicorn(env, log, workers=2) as base_url:
        totp_secret = json.loads(facts_file.read_text(encoding="utf-8"))["totp_secret"]
        yield Served(base_url, totp_secret, log, workdir / "db.sqlite3")


# --- the person's browser -------------------------------------------------------------------------


def _form_value(page: httpx2.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page.text)
    assert found is not None, f"no {name} on {page.url}: {page.text[:1500]}"
    return found.group(1).replace("&quot;", '"').replace("&amp;", "&")


class Browser:
    """A person's browser: signs in with a password and a TOTP code, then consents."""

    def __init__(self, site: Served) -> None:
        self.site = site
        self.http = httpx2.AsyncClient(base_url=site.base_url, timeout=30)
        self.consents = 0
        self._answer: AuthorizationCodeResult | None = None

    async def sign_in(self) -> None:
        from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

        page = await self.http.get("/accounts/login/")
        response = await self.http.post(
            "/accounts/login/",
            data={
                "login": USERNAME,
                "password": PASSWORD,
                "csrfmiddlewaretoken": _form_value(page, "csrfmiddlewaretoken"),
            },
        )
        assert response.headers.get("location") == "/accounts/2fa/authenticate/", response.text
        page = await self.http.get("/accounts/2fa/authenticate/")
        left = 30 - time.time() % 30
        if left < 2:  # a code is good for its own 30-second step only
            await anyio.sleep(left + 0.05)
        code = format_hotp_value(hotp_value(self.site.totp_secret, int(time.time()) // 30))
        response = await self.http.post(
            "/accounts/2fa/authenticate/",
            data={"code": code, "csrfmiddlewaretoken": _form_value(page, "csrfmiddlewaretoken")},
        )
        assert response.status_code == 302, response.text[:1500]

    async def open_authorization(self, url: str) -> None:
        """The SDK's redirect handler: the person opens the URL and grants every scope
        offered; the client's redirect URI receives the answer."""
        consent = await self.http.get(url)
        assert consent.status_code == 200, consent.text[:1500]
        offered = re.findall(r'name="scopes" value="([^"]+)"', consent.text)
        response = await self.http.post(
            "/identity/o/authorize",
            data={
                "request": _form_value(consent, "request"),
                "scopes": offered,
                "action": "grant",
                "csrfmiddlewaretoken": _form_value(consent, "csrfmiddlewaretoken"),
            },
        )
        assert response.status_code == 302, response.text[:1500]
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        answer = {name: values[0] for name, values in parse_qs(location.query).items()}
        assert "code" in answer, answer
        self.consents += 1
        self._answer = AuthorizationCodeResult(
            code=answer["code"], state=answer.get("state"), iss=answer.get("iss")
        )

    async def redirected_back(self) -> AuthorizationCodeResult:
        """The SDK's callback handler: what arrived at the redirect URI."""
        assert self._answer is not None
        answer, self._answer = self._answer, None
        return answer


class Storage:
    """The SDK's token storage, in memory: the client registration outlives each flow."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def _provider(site: Served, browser: Browser, storage: Storage) -> OAuthClientProvider:
    """The SDK's OAuth client with its defaults: a confidential client (client_secret_basic)
    asking for the authorization code and refresh token grants."""
    return OAuthClientProvider(
        server_url=site.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="SDK test client",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
        ),
        storage=storage,
        redirect_handler=browser.open_authorization,
        callback_handler=browser.redirected_back,
    )


async def _list_scans(site: Served, provider: OAuthClientProvider) -> dict[str, Any]:
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        streamable_http_client(site.mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("list_scans", {})
        assert not result.is_error, result.content
        assert result.structured_content is not None
        return dict(result.structured_content)


async def _mcp_status(site: Served, access_token: str) -> int:
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(
            site.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "authorization": f"Bearer {access_token}",
                "accept": "application/json, text/event-stream",
            },
        )
        return response.status_code


async def _token_endpoint(site: Served, storage: Storage, path: str, data: dict[str, str]) -> Any:
    """A form post to the provider authenticated as the SDK does (RFC 6749 2.3.1 Basic)."""
    info = storage.client_info
    assert info is not None
    assert info.client_secret is not None
    async with httpx2.AsyncClient(base_url=site.base_url, timeout=30) as http:
        return await http.post(path, data=data, auth=(info.client_id, info.client_secret))


def run_the_whole_flow(site: Served) -> None:
    async def main() -> None:
        browser = Browser(site)
        await browser.sign_in()
        storage = Storage()

        # Discovery, registration, authorization and the first exchange, then more
        # exchanges with the same registration (a new session each time, as after a restart
        # of the assistant that kept its registration but not its tokens).
        for _ in range(EXCHANGES):
            storage.tokens = None
            provider = _provider(site, browser, storage)
            listed = await _list_scans(site, provider)
            assert "scans" in listed, listed
        assert browser.consents == EXCHANGES

        info = storage.client_info
        assert info is not None
        assert info.token_endpoint_auth_method == "client_secret_basic"
        assert info.client_secret
        tokens = storage.tokens
        assert tokens is not None
        assert tokens.refresh_token is not None
        assert set((tokens.scope or "").split()) >= {"read"}

        # The access token has expired: the SDK refreshes it, and the refresh token rotates.
        provider.context.token_expiry_time = time.time() - 1
        await _list_scans(site, provider)
        rotated = storage.tokens
        assert rotated is not None
        assert rotated.refresh_token is not None
        assert rotated.access_token != tokens.access_token
        assert rotated.refresh_token != tokens.refresh_token
        replayed = await _token_endpoint(
            site,
            storage,
            "/identity/o/api/token",
            {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        )
        assert (replayed.status_code, replayed.json()["error"]) == (400, "invalid_grant")
        assert browser.consents == EXCHANGES  # refreshed without the person
        assert site.oauth_refusals() == [
            ("token", {"status": 400, "error": "invalid_grant", "client_id": info.client_id})
        ]

        # Revocation: the access token is refused at /mcp, the refresh token at the provider.
        assert await _mcp_status(site, rotated.access_token) == 200
        for token in (rotated.access_token, rotated.refresh_token):
            revoked = await _token_endpoint(
                site, storage, "/identity/o/api/revoke", {"token": token}
            )
            assert revoked.status_code == 200, revoked.text
        assert await _mcp_status(site, rotated.access_token) == 401
        refused = await _token_endpoint(
            site,
            storage,
            "/identity/o/api/token",
            {"grant_type": "refresh_token", "refresh_token": rotated.refresh_token},
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
        await browser.http.aclose()

    anyio.run(main)


def test_the_sdk_oauth_client_works_with_two_workers_and_no_redis(tmp_path: Path) -> None:
    with served(tmp_path) as site:
        try:
            run_the_whole_flow(site)
        except BaseException:
            print(site.log_tail())  # noqa: T201 (the server's side of a failure)
            raise


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_the_sdk_oauth_client_works_with_two_workers_and_redis(tmp_path: Path) -> None:
    assert _redis_up(), "this test needs Redis on 127.0.0.1:6379"
    with served(tmp_path, f"redis://127.0.0.1:6379/{REDIS_DB}") as site:
        try:
            run_the_whole_flow(site)
        except BaseException:
            print(site.log_tail())  # noqa: T201 (the server's side of a failure)
            raise


# --- the seed, run in a child process with the server's environment ---------------------------


def seed(facts_file: Path) -> None:
    """A clean install (every migration, the cache table included) and one analyst with a
    TOTP authenticator."""
    import django

    django.setup()
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from compliance.permissions.roles import Role, assign_role

    call_command("migrate", verbosity=0)
    alice = User.objects.create_user(USERNAME, f"{USERNAME}@example.com", PASSWORD)
    assign_role(alice, Role.ANALYST)
    totp_secret = generate_totp_secret()
    TOTP.activate(alice, totp_secret)
    facts_file.write_text(json.dumps({"totp_secret": totp_secret}), encoding="utf-8")


if __name__ == "__main__":
    seed(Path(sys.argv[1]))
