"""Who is calling a tool, and through what: the identity every guard and audit row uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from allauth.idp.oidc.models import Token
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from compliance.permissions.accounts import NarrowedViewer
from mcp_endpoint.models import ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller of the MCP tools.

    ``viewer`` is what the selectors receive: the user narrowed by the key's accounts.
    ``subject`` names the caller in guard counters: a key's prefix, ``oauth:<user id>:<client>``
    for an OAuth access token (every token of one client for one person shares the counters, as
    calls with one key do), ``user:<id>`` over stdio.
    """

    user: AbstractBaseUser
    viewer: NarrowedViewer
    scopes: frozenset[str]
    subject: str
    interface: str
    key_prefix: str = ""
    key_id: int | None = None
    client_id: str = ""
    client_address: str | None = None
    correlation_id: str = ""

    @classmethod
    def for_key(
        cls,
        key: ApiKey,
        *,
        account_ids: frozenset[str],
        client_address: str | None,
        correlation_id: str,
    ) -> Caller:
        """``account_ids``: the accounts the key names (empty: all of its user's), as
        :func:`mcp_endpoint.keys.verify` read them with the key."""
        return cls(
            user=key.user,
            viewer=NarrowedViewer(
                user=key.user,
                account_ids=account_ids or None,
                label=str(key.user.get_username()),
                scopes=frozenset(key.scopes),
            ),
            scopes=frozenset(key.scopes),
            subject=key.prefix,
            interface="mcp",
            key_prefix=key.prefix,
            key_id=key.pk,
            client_address=client_address,
            correlation_id=correlation_id,
        )

    @classmethod
    def for_access_token(
        cls, token: Token, *, client_address: str | None, correlation_id: str
    ) -> Caller:
        """A token acts as its user, with every account the user may see, and only the MCP
        scopes (``read``, ``scan``) among those granted."""
        user, client = token.user, token.client
        if user is None or client is None:
            raise ValueError("a token without user or client cannot call tools")
        client_part = client.id if len(client.id) <= 64 else _digest(client.id)
        scopes = frozenset(token.get_scopes()) & frozenset(ApiKey.ALL_SCOPES)
        return cls(
            user=user,
            viewer=NarrowedViewer(user=user, label=str(user.get_username()), scopes=scopes),
            scopes=scopes,
            subject=f"oauth:{user.pk}:{client_part}",
            interface="mcp",
            client_id=client.id,
            client_address=client_address,
            correlation_id=correlation_id,
        )

    @classmethod
    def for_local_user(cls, user: AbstractBaseUser) -> Caller:
        """A local stdio client runs as the user named on the command line, with every scope:
        whoever can start the command already has the server's shell."""
        return cls(
            user=user,
            viewer=NarrowedViewer(
                user=user,
                label=str(user.get_username()),
                scopes=frozenset(ApiKey.ALL_SCOPES),
            ),
            scopes=frozenset(ApiKey.ALL_SCOPES),
            subject=f"user:{user.pk}",
            interface="stdio",
        )

    @property
    def credential(self) -> str:
        """What the caller presented, in words for messages."""
        if self.client_id:
            return "access token"
        return "API key" if self.key_prefix else "session"

    def with_call(self, correlation_id: str) -> Caller:
        """The same caller for one call (stdio serves many calls per process)."""
        return replace(self, correlation_id=correlation_id)

    def with_user_reloaded(self) -> Caller:
        """The same caller with its user read again: a stdio session serves one user for as
        long as it runs, so a demotion or deactivation meanwhile takes effect at its next call,
        as it does for keys and tokens (read at every request)."""
        found = get_user_model()._default_manager.filter(pk=self.user.pk).first()
        user: AbstractBaseUser = self.user if found is None else found
        if found is None:  # deleted meanwhile: as an inactive person, allowed nothing
            user.is_active = False
        return replace(self, user=user, viewer=replace(self.viewer, user=user))


def _digest(value: str) -> str:
    """A short stable name for a long client ID (a metadata document URL), for counter keys."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]
