"""Checking an OAuth access token presented to ``/mcp``.

The provider stores only a hash of each token it issues (opaque by default; a JWT access token
is stored the same way), so one database lookup answers "issued here, not revoked" for either
format: revoking a token deletes its row. The audience check uses RFC 8707 resource indicators,
which allauth 65.21 supports: the ``resource`` a client sends to the authorization and token
endpoints is kept on the token (and is the ``aud`` of a JWT access token). A token counts for
``/mcp`` only when ``/mcp``'s own URL is among its resources: a token issued without one, or for
another service, is refused, so a token meant for a different resource server can never be
replayed here. MCP clients send ``resource`` as the MCP authorization specification requires.
Resources compare as URIs: scheme and host in any case, a default port written or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from allauth.idp.oidc.models import Token
from django.utils import timezone

from mcp_endpoint.oauth.client_requests import normalized_resource
from mcp_endpoint.oauth.metadata import authorization_server_enabled

#: Token characters (RFC 6750 ``b64token``) and a length that bounds the work done per request.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9\-._~+/]{20,4096}=*$")


@dataclass(frozen=True, slots=True)
class TokenVerdict:
    """The token, or why it was refused (oauth_disabled, malformed, unknown, expired,
    no_user, inactive_user, wrong_audience); ``client_id`` once the token is known."""

    token: Token | None
    reason: str
    client_id: str = ""


def verify(presented: str, *, resource: str, now: datetime | None = None) -> TokenVerdict:
    if not _TOKEN_SHAPE.fullmatch(presented):
        return TokenVerdict(None, "malformed")
    if not authorization_server_enabled():
        return TokenVerdict(None, "oauth_disabled")
    token = (
        Token.objects.by_value(presented)
        .filter(type=Token.Type.ACCESS_TOKEN)
        .select_related("user", "client")
        .first()
    )
    if token is None or token.client is None:
        # Never issued, or revoked (revocation deletes the row).
        return TokenVerdict(None, "unknown")
    client_id = token.client.id
    now = now or timezone.now()
    if token.expires_at is None or token.expires_at <= now:
        return TokenVerdict(None, "expired", client_id)
    if token.user is None:
        # A client-credentials token: no person to act as, so nothing it may see.
        return TokenVerdict(None, "no_user", client_id)
    if not token.user.is_active:
        return TokenVerdict(None, "inactive_user", client_id)
    issued_for = {normalized_resource(issued) for issued in token.get_resources()}
    if normalized_resource(resource) not in issued_for:
        return TokenVerdict(None, "wrong_audience", client_id)
    return TokenVerdict(token, "ok", client_id)
