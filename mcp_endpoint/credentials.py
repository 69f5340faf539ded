"""Who presented the bearer credential of a ``/mcp`` request: an API key or an access token.

API keys are recognised by their ``ftc_`` prefix; anything else is taken for an OAuth access
token of this site's authorization server. Both end as the same :class:`Caller`, so the scope
check, the guards and the audit downstream are one code path for either credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from mcp_endpoint import keys
from mcp_endpoint.models import ApiKey
from mcp_endpoint.oauth import access_tokens
from mcp_endpoint.principal import Caller

#: ``last_used_at`` is written at most this often per key, not on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a credential was refused; ``reason`` is for the audit log and the operator only."""

    reason: str
    credential: str
    key_prefix: str = ""
    client_id: str = ""

    @property
    def public_reason(self) -> str:
        """The reason the client is told: one for every refused credential, so that an unknown
        key, a wrong secret, an expired or a revoked key answer alike and a key prefix cannot
        be probed for existence (the audit row keeps :attr:`reason`)."""
        return "missing" if self.reason == "missing" else "invalid_token"

    @property
    def message(self) -> str:
        if self.credential == "API key":
            return "invalid API key (unknown, expired or revoked)"
        return "invalid access token (unknown, expired, revoked or issued for another resource)"


def authenticate(
    presented: str, *, resource: str, address: str | None, correlation: str
) -> Caller | Rejection:
    """The caller a bearer credential stands for, or why it stands for nobody.

    ``resource`` is the canonical URL of ``/mcp`` as this request reached it: an access token
    must have been issued for it.
    """
    if presented.startswith(keys.KEY_MARKER):
        return _api_key_caller(presented, address, correlation)
    verdict = access_tokens.verify(presented, resource=resource)
    if verdict.token is None:
        return Rejection(verdict.reason, "access token", client_id=verdict.client_id)
    return Caller.for_access_token(
        verdict.token, client_address=address, correlation_id=correlation
    )


def _api_key_caller(presented: str, address: str | None, correlation: str) -> Caller | Rejection:
    verdict = keys.verify(presented)
    if verdict.key is None:
        return Rejection(verdict.reason, "API key", key_prefix=verdict.prefix)
    key = verdict.key
    now = timezone.now()
    if (
        key.last_used_at is None
        or key.last_used_at < now - LAST_USED_RESOLUTION
        or key.last_used_from != address
    ):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_from=address)
    return Caller.for_key(
        key, account_ids=verdict.account_ids, client_address=address, correlation_id=correlation
    )
