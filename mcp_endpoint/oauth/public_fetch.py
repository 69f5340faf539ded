"""Fetching a client ID metadata document from the public internet only, checked on connect.

A client ID metadata document's URL is chosen by whoever sends it, so the server must never
fetch one from its own network (loopback, private, link-local such as the cloud metadata
service at 169.254.169.254). The adapter's ``is_cimd_url_allowed`` resolves the host name and
refuses any non-public address, but allauth then fetches with ``requests.get``, which
resolves the name again: a name that answers with a public address first and a private one
the second time (DNS rebinding) would pass the check and reach the private one.

So the fetch itself connects only to addresses it has just checked: the connection resolves
the host once, refuses unless every address is public, and connects to a checked address
(TLS still verifies the certificate against the host name). No proxy from the environment is
used: a proxy would do its own resolution where nothing checks it. allauth offers no hook
for the fetch; :func:`install` hands its metadata-document module this fetch in place of the
``requests`` module it calls, with the same ``get`` and ``RequestException``.
"""

from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection


def public_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, or ``[]`` unless all of them are public."""
    try:
        found = {
            str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        }
    except (OSError, UnicodeError):
        return []
    addresses = sorted(found)
    try:
        public = all(ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses)
    except ValueError:
        return []
    return addresses if public else []


class PublicOnlyHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that connects only to a public address it resolved itself."""

    def _new_conn(self) -> socket.socket:
        addresses = public_addresses(self._dns_host, self.port)
        if not addresses:
            raise NewConnectionError(
                self, f"refused: {self._dns_host} does not resolve to public addresses only"
            )
        failure: OSError | None = None
        for address in addresses:
            try:
                return connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                failure = exc
        raise NewConnectionError(self, f"failed to connect to {self._dns_host}: {failure}")


class PublicOnlyHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PublicOnlyHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """``https://`` through :class:`PublicOnlyHTTPSConnection` only."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": PublicOnlyHTTPSConnectionPool}


def get(url: str, **kwargs: Any) -> requests.Response:
    """``requests.get`` to public HTTPS addresses only (``http://`` is refused outright)."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would resolve unchecked
    session.adapters.clear()
    session.mount("https://", PublicOnlyAdapter())
    return session.get(url, **kwargs)


def install() -> None:
    """Have allauth's client ID metadata documents fetched by :func:`get`."""
    from allauth.idp.oidc.internal import cimd

    cimd.requests = SimpleNamespace(get=get, RequestException=requests.RequestException)
