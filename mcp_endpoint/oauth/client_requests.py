"""Requests from OAuth clients, read the way the RFCs say before allauth's provider sees them.

Each function fixes one way real clients were turned away or broke the provider:

- :func:`read_basic_credentials`: RFC 6749 2.3.1 has the client ID and secret form-encoded
  before HTTP Basic encoding (the MCP SDK does so), which allauth does not undo; and a token
  request authenticated with Basic needs no ``client_id`` in its body, which with client ID
  metadata documents on makes allauth fail (500) instead of answering.
- :func:`normalize_resources`: RFC 8707 resource indicators compared as URIs (scheme and host
  case-insensitive, default port implied), not as strings.
- :func:`pkce_refusal`: only ``S256`` is advertised, so ``plain`` (or a challenge without a
  method, which means ``plain``) is refused instead of accepted.
- :func:`nul_refusal`: a NUL character in Basic credentials is refused before the provider
  looks the client up (PostgreSQL refuses NUL in text: the lookup would fail with a 500). The
  query and form fields are checked for NUL for every page, by
  ``compliance.web.middleware``; a header is not.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from allauth.idp.oidc.models import Client
from django.http import HttpRequest, JsonResponse, QueryDict

if TYPE_CHECKING:
    from django.http.request import _ImmutableQueryDict

DEFAULT_PORTS = {"http": 80, "https": 443}
#: The only PKCE method offered (``code_challenge_methods_supported``).
PKCE_METHOD = "S256"


def normalized_resource(uri: str) -> str:
    """``uri`` with its scheme and host in lower case and a default port left out, so that
    ``HTTPS://Example.COM:443/mcp`` names the same resource as ``https://example.com/mcp``.
    A URI that cannot be read as ``scheme://host/...`` is returned as it is (and refused
    downstream as it would have been)."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        return uri
    host = parts.hostname
    if not parts.scheme or not host or parts.username is not None or parts.password is not None:
        return uri
    scheme = parts.scheme.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def normalize_resources(request: HttpRequest) -> None:
    """Rewrite the ``resource`` parameters of ``request`` (query for GET, form for POST) in
    normalized form; the provider then stores, compares and issues only normalized ones."""
    if request.method == "GET":
        params = request.GET
    elif request.method == "POST":
        params = request.POST
    else:
        return
    resources = params.getlist("resource")
    normalized = [normalized_resource(resource) for resource in resources]
    if normalized == resources:
        return
    rewritten = params.copy()
    rewritten.setlist("resource", normalized)
    if request.method == "GET":
        # allauth reads the query both from request.GET and from the raw query string.
        request.META["QUERY_STRING"] = rewritten.urlencode()
        request.GET = _frozen(rewritten)
    else:
        request.POST = _frozen(rewritten)


def pkce_refusal(request: HttpRequest) -> str | None:
    """Why an authorization request's PKCE challenge is refused, or ``None``."""
    if "code_challenge" not in request.GET:
        return None
    method = request.GET.get("code_challenge_method")
    if method == PKCE_METHOD:
        return None
    named = f"code_challenge_method {method!r}" if method else "a code_challenge without a method"
    return f"PKCE: {named} is not supported; use code_challenge_method={PKCE_METHOD}"


def nul_refusal(request: HttpRequest) -> str | None:
    """Why a request is refused for a NUL character in its Basic credentials, or None."""
    credentials = _basic_credentials(request)
    if credentials is not None and any("\x00" in text for text in credentials):
        return "invalid request: client credentials must not contain NUL characters"
    return None


def read_basic_credentials(request: HttpRequest) -> JsonResponse | None:
    """Undo RFC 6749's form encoding of Basic credentials, and put the authenticated client's
    ID in the body where the provider looks for it; or the ``invalid_client`` answer for a
    request naming no client at all (the provider fails on one when client ID metadata
    documents are on)."""
    credentials = _basic_credentials(request)
    if credentials is not None:
        client_id, secret = credentials
        if secret:
            _pass_on_decoded(request, client_id, secret)
        if not request.POST.get("client_id"):
            body = request.POST.copy()
            body["client_id"] = client_id
            request.POST = _frozen(body)
    if request.POST.get("client_id"):
        return None
    response = JsonResponse(
        {
            "error": "invalid_client",
            "error_description": "client authentication failed: no client_id and no HTTP "
            "Basic credentials",
        },
        status=401,
    )
    response["WWW-Authenticate"] = 'Basic realm="token"'
    return response


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """The client ID and secret of a Basic ``Authorization`` header, form-decoded."""
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    raw_id, separator, raw_secret = decoded.partition(":")
    if not separator or not raw_id:
        return None
    return unquote_plus(raw_id), unquote_plus(raw_secret)


def _pass_on_decoded(request: HttpRequest, client_id: str, secret: str) -> None:
    """Hand the provider the decoded credentials when they are the client's.

    A secret of unreserved characters reads the same either way (every secret issued here
    now is one). An older secret with ``%``, ``+`` or ``&`` in it may come decoded-to-be (RFC
    6749) or raw (a client that skips the encoding): the decoded form is used when it is the
    client's secret, and the header is left as sent otherwise, for the provider to check.
    """
    scheme, _, encoded = request.META["HTTP_AUTHORIZATION"].partition(" ")
    as_sent = base64.b64decode(encoded.strip()).decode("utf-8")
    if as_sent == f"{client_id}:{secret}" or ":" in client_id:
        return
    client = Client.objects.filter(id=client_id).first()
    if client is None or not client.check_secret(secret):
        return
    plain = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
    request.META["HTTP_AUTHORIZATION"] = f"{scheme} {plain}"


def _frozen(params: QueryDict) -> _ImmutableQueryDict:
    params._mutable = False
    return cast("_ImmutableQueryDict", params)
