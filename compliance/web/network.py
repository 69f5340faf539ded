"""Who is calling: the client address, believing forwarded headers only from trusted proxies.

A reverse proxy on the same host makes every request come from 127.0.0.1, so being local earns
no trust here; ``X-Forwarded-For`` is read only when the direct peer is in
``TRUSTED_PROXY_CIDRS``. Used by the MCP endpoint, the sign-in pages and the audit log alike;
:func:`record_web_event` writes a web request's audit row with it.

The same networks decide at every layer: :func:`forwarded_allow_ips` is what gunicorn.conf.py
and the demo give the ASGI server, and :class:`ForwardedHeadersFromTrustedProxiesOnly` drops the
forwarded headers of any other peer before Django (``SECURE_PROXY_SSL_HEADER``) or the MCP
endpoint (its OAuth metadata URLs) reads them, so a client cannot claim HTTPS or an address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Headers a proxy sets to describe the client's connection, lower-case as ASGI carries them.
#: From a peer that is not a trusted proxy they are a claim by the client about itself.
FORWARDED_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-protocol",
        b"x-forwarded-scheme",
        b"x-forwarded-ssl",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
        b"x-url-scheme",
    }
)
#: The same headers as Django's ``request.META`` names them.
FORWARDED_META_KEYS = frozenset(
    "HTTP_" + name.decode().upper().replace("-", "_") for name in FORWARDED_HEADERS
)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXY_CIDRS)


def is_trusted_proxy(peer: str | None) -> bool:
    """True when the direct peer is in ``TRUSTED_PROXY_CIDRS`` (never for an unknown peer)."""
    address = _address(peer) if peer else None
    return address is not None and _trusted(address)


def forwarded_allow_ips(networks: Iterable[Network]) -> str:
    """The ASGI server's ``forwarded_allow_ips`` for these networks: empty trusts no peer.

    gunicorn and uvicorn take comma-separated addresses and CIDRs; each network is written in
    its normalised form (host bits cleared) because gunicorn refuses any other.
    """
    return ",".join(str(network) for network in networks)


def client_block(address: str) -> str:
    """The client as a limit or an alert counts it: an IPv4 address, or an IPv6 address's
    /64, the block one subscriber is given (rotating addresses within it is still one client).
    Audit rows keep the full address."""
    parsed = _address(address)
    if parsed is None or parsed.version == 4 or parsed.ipv4_mapped is not None:
        return address
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def client_address(peer: str | None, forwarded_for: Iterable[str]) -> str | None:
    """The direct peer, unless it is a trusted proxy: then the nearest untrusted address in
    ``X-Forwarded-For`` (read right to left, as each proxy appends the address it saw)."""
    nearest = _address(peer) if peer else None
    if nearest is None or not _trusted(nearest):
        return str(nearest) if nearest else None
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        nearest = address
        if not _trusted(address):
            break
    return str(nearest)


def request_client_address(request: HttpRequest) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    return client_address(request.META.get("REMOTE_ADDR"), [forwarded] if forwarded else [])


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class ForwardedHeadersFromTrustedProxiesOnly:
    """ASGI middleware around the whole application (Django and ``/mcp``): the forwarded
    headers of a peer outside ``TRUSTED_PROXY_CIDRS`` are removed from the request.

    Django believes ``X-Forwarded-Proto`` from anyone once ``SECURE_PROXY_SSL_HEADER`` is set,
    and the MCP endpoint builds its OAuth metadata URLs the way Django does; the server may
    also sit behind a different ASGI server than gunicorn. Removing the headers here makes the
    rule hold for every reader. When the ASGI server already resolved a trusted proxy's
    headers (gunicorn.conf.py), the scope carries the client and scheme it found, and the
    headers it read are dropped as the resolved client is not a proxy: nothing is read twice.
    """

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            client = scope.get("client")
            if not is_trusted_proxy(client[0] if client else None):
                headers = scope.get("headers") or []
                kept = [
                    (name, value)
                    for name, value in headers
                    if name.lower() not in FORWARDED_HEADERS
                ]
                if len(kept) != len(headers):
                    scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)
