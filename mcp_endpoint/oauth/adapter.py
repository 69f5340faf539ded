"""The authorization server's adapter: this site's issuer, and the MCP scopes it offers.

Clients registered by an admin are given their scopes in the admin (``read``, ``scan``; plus
``openid`` for sign-in only clients). Clients that register themselves (dynamic registration,
RFC 7591, or a client ID metadata document) may ask for any offered scope: the person signing
in sees each one on the consent page and grants them, and a token never acts beyond its user.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlparse

from allauth.idp.oidc import app_settings
from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from allauth.idp.oidc.models import Client
from django.utils.translation import gettext_lazy as _

from mcp_endpoint.oauth.metadata import MCP_SCOPES, issuer_url

#: Every scope a self-registered client may ask for.
OFFERED_SCOPES: tuple[str, ...] = ("openid", "profile", "email", *MCP_SCOPES)
#: What an authorization request without ``scope`` gets from a self-registered client.
DEFAULT_SCOPES: tuple[str, ...] = ("read",)


class McpOIDCAdapter(DefaultOIDCAdapter):
    scope_display = {
        **DefaultOIDCAdapter.scope_display,
        "read": _("Read tag compliance and cost data of the AWS accounts you may see"),
        "scan": _("Start scans of those accounts"),
    }

    def get_issuer(self) -> str:
        return issuer_url(self.request)

    def populate_server_metadata(self, data: dict[str, str | list[str]]) -> None:
        offered = data.get("scopes_supported", [])
        data["scopes_supported"] = [
            *(offered if isinstance(offered, list) else [offered]),
            *(scope for scope in MCP_SCOPES if scope not in offered),
        ]
        if app_settings.CIMD_ENABLED:
            data["client_id_metadata_document_supported"] = True  # type: ignore[assignment]

    def is_cimd_url_allowed(self, url: str) -> bool:
        """Fetch metadata documents only from public hosts: a client ID is any URL a stranger
        chooses, and must not make this server call into its own network."""
        host = urlparse(url).hostname
        if not host:
            return False
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, 443)}
        except (OSError, UnicodeError):
            return False
        return bool(addresses) and all(
            ipaddress.ip_address(str(address).split("%")[0]).is_global for address in addresses
        )


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
