"""The authorization server's adapter: this site's issuer, and the MCP scopes it offers.

Clients registered by an admin are given their scopes in the admin (``read``, ``scan``; plus
``openid`` for sign-in only clients). Clients that register themselves (dynamic registration,
RFC 7591, or a client ID metadata document) may ask for any offered scope: the person signing
in sees each one on the consent page and grants them, and a token never acts beyond its user.

Only the authorization code flow (with PKCE S256) is offered to browsers: the metadata names
``code`` as the only response type, and a registration asking for another is refused, so no
client is promised an implicit or hybrid flow the server then refuses.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.idp.oidc import app_settings
from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from allauth.idp.oidc.models import Client, Token
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mcp_endpoint.oauth import public_fetch
from mcp_endpoint.oauth.metadata import MCP_SCOPES, issuer_url

#: Every scope a self-registered client may ask for.
OFFERED_SCOPES: tuple[str, ...] = ("openid", "profile", "email", *MCP_SCOPES)
#: What an authorization request without ``scope`` gets from a self-registered client.
DEFAULT_SCOPES: tuple[str, ...] = ("read",)
#: The one response type offered: the authorization code flow.
RESPONSE_TYPES: tuple[str, ...] = ("code",)
#: The grants an MCP client can use: a token must act for a person, so neither client
#: credentials (no person) nor the device flow (not part of MCP's authorization) are offered.
GRANT_TYPES: tuple[str, ...] = ("authorization_code", "refresh_token")


class McpOIDCAdapter(DefaultOIDCAdapter):
    scope_display = {
        **DefaultOIDCAdapter.scope_display,
        "read": _("Read tag compliance and cost data of the AWS accounts you may see"),
        "scan": _("Start scans of those accounts"),
    }

    def get_issuer(self) -> str:
        return issuer_url(self.request)

    def generate_client_secret(self) -> str:
        """A secret of URL-safe characters only (384 random bits).

        RFC 6749 2.3.1 has clients form-encode the secret before HTTP Basic encoding; one made
        of unreserved characters reads the same encoded or not, so a client that forgets the
        encoding (or one that applies it, as the MCP SDK does) authenticates all the same.
        """
        return secrets.token_urlsafe(48)

    def populate_server_metadata(self, data: dict[str, str | list[str]]) -> None:
        offered = data.get("scopes_supported", [])
        data["scopes_supported"] = [
            *(offered if isinstance(offered, list) else [offered]),
            *(scope for scope in MCP_SCOPES if scope not in offered),
        ]
        data["response_types_supported"] = list(RESPONSE_TYPES)
        data["grant_types_supported"] = list(GRANT_TYPES)
        if app_settings.CIMD_ENABLED:
            data["client_id_metadata_document_supported"] = True  # type: ignore[assignment]

    def validate_client_registration(
        self,
        *,
        client: Client,
        client_metadata: dict[str, Any],
        token: Token | None,
        bearer_token: str | None,
        **kwargs: Any,
    ) -> None:
        """A registration asks only for what is offered, and registrations stay under the
        hourly ceiling of the whole server (the per-address limit is allauth's, set by
        ``MCP_OAUTH_DCR_RATE_LIMIT``): many addresses cannot fill the client table either."""
        if refusal := client_refusal(client):
            raise ValidationError(refusal)
        ceiling = int(getattr(settings, "MCP_OAUTH_DCR_MAX_PER_HOUR", 0))
        since = timezone.now() - timedelta(hours=1)
        if ceiling and registrations_since(since) >= ceiling:
            raise ImmediateHttpResponse(
                JsonResponse(
                    {
                        "error": "temporarily_unavailable",
                        "error_description": "Too many client registrations; try again later.",
                    },
                    status=HTTPStatus.TOO_MANY_REQUESTS,
                    headers={"Retry-After": "600"},
                )
            )

    def is_cimd_url_allowed(self, url: str) -> bool:
        """Fetch metadata documents only from public hosts: a client ID is any URL a stranger
        chooses, and must not make this server call into its own network (the fetch checks
        the addresses again as it connects: see :mod:`.public_fetch`)."""
        host = urlparse(url).hostname
        return bool(host) and bool(public_fetch.public_addresses(str(host), 443))


def client_refusal(client: Client) -> str | None:
    """Why a self-registered client (dynamic registration or a client ID metadata document)
    may not be saved as it asks (``None``: it may)."""
    unsupported = sorted(set(client.get_response_types()) - set(RESPONSE_TYPES))
    if unsupported:
        return (
            f"unsupported response_types {unsupported}: only the authorization code flow "
            "(response type 'code', with PKCE S256) is offered"
        )
    refused_grants = sorted(set(client.get_grant_types()) - set(GRANT_TYPES))
    if refused_grants:
        return f"unsupported grant_types {refused_grants}: only {list(GRANT_TYPES)} are offered"
    for uri in client.get_redirect_uris():
        if refusal := redirect_uri_refusal(uri):
            return f"redirect_uris: {refusal}"
    return None


def _check_metadata_documents() -> None:
    """A client ID metadata document is held to the rules of a registration.

    allauth saves the client a document describes without asking the adapter (dynamic
    registration asks ``validate_client_registration``), and reads the document with
    ``json.loads``, whose ``RecursionError`` on a deeply nested one would answer 500 from the
    authorization and token endpoints. Both are wrapped here; allauth offers no hook for them.
    """
    from allauth.idp.oidc.internal import cimd

    fetch, validate = cimd.fetch_metadata, cimd.validate_metadata

    def fetch_metadata(client_id: str) -> Any:
        try:
            return fetch(client_id)
        except RecursionError:
            raise ValidationError("CIMD document is nested too deeply.") from None

    def validate_metadata(client_id: str, parsed: Any, metadata: Any) -> Client:
        client = validate(client_id, parsed, metadata)
        if refusal := client_refusal(client):
            raise ValidationError(refusal)
        return client

    cimd.fetch_metadata = fetch_metadata
    cimd.validate_metadata = validate_metadata


# allauth fetches metadata documents with ``requests.get``; this makes it the checked fetch.
public_fetch.install()
_check_metadata_documents()


#: Schemes a browser runs or reads locally instead of handing to an application: a code sent
#: there would execute script in the consent page's origin or never reach a client.
REFUSED_REDIRECT_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "about", "blob", "filesystem", "view-source"}
)
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


def redirect_uri_refusal(uri: str) -> str | None:
    """Why a self-registered client may not have ``uri`` as a redirect URI (``None``: it may).

    As the MCP authorization specification and RFC 8252 say: HTTPS anywhere, plain HTTP only to
    the loopback interface (a native client listening on a local port), or an application's
    private-use scheme (``cursor://...``, ``com.example.app:/cb``); never a fragment (RFC 6749
    3.1.2) and never a scheme the browser itself would act on.
    """
    if any(character.isspace() or character in '\\<>"' for character in uri):
        return "must not contain spaces, backslashes, quotes or angle brackets"
    try:
        parts = urlparse(uri)
        parts.port  # noqa: B018 (read for its ValueError on a port out of range)
    except ValueError:
        return "is not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return "must be an absolute URI"
    if not _SCHEME.fullmatch(scheme):
        return "has an invalid scheme"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if scheme in REFUSED_REDIRECT_SCHEMES:
        return f"the {scheme}: scheme is not allowed"
    if scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS:
        return "plain http is allowed only to localhost, 127.0.0.1 or [::1]"
    if scheme in {"http", "https"}:
        if not parts.hostname:
            return "must name a host"
        if parts.username is not None or parts.password is not None:
            return "must not carry a user name or password"
    return None


def registrations_since(since: datetime) -> int:
    """Clients registered through dynamic registration since ``since``."""
    return int(Client.objects.filter(created_at__gte=since, data__dcr=True).count())


def is_self_registered(client: Client) -> bool:
    data = client.data if isinstance(client.data, dict) else {}
    return bool(data.get("dcr") or data.get("cimd"))


def offer_mcp_scopes(sender: type[Client], instance: Client, **kwargs: Any) -> None:
    """``pre_save`` of a client: a self-registered one may ask for the offered scopes.

    Left alone, allauth would allow such a client only the scopes it listed itself (``openid``
    when it listed none), so an MCP client could never be granted ``read``.
    """
    if not is_self_registered(instance):
        return
    instance.set_scopes(list(OFFERED_SCOPES))
    if not instance.get_default_scopes():
        instance.set_default_scopes(list(DEFAULT_SCOPES))
