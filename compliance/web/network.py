"""Who is calling: the client address, believing forwarded headers only from trusted proxies.

A reverse proxy on the same host makes every request come from 127.0.0.1, so being local earns
no trust here; ``X-Forwarded-For`` is read only when the direct peer is in
``TRUSTED_PROXY_CIDRS``. Used by the MCP endpoint, the sign-in pages and the audit log alike;
:func:`record_web_event` writes a web request's audit row with it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXY_CIDRS)


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
