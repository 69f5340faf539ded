"""Who is calling a tool, and through what: the identity every guard and audit row uses."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.contrib.auth.base_user import AbstractBaseUser

from compliance.access import NarrowedViewer
from mcp_endpoint.models import ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller of the MCP tools.

    ``viewer`` is what the selectors receive: the user narrowed by the key's accounts.
    ``subject`` names the caller in guard counters (a key's prefix, or ``user:<id>`` over stdio).
    """

    user: AbstractBaseUser
    viewer: NarrowedViewer
    scopes: frozenset[str]
    subject: str
    interface: str
    key_prefix: str = ""
    key_id: int | None = None
    client_address: str | None = None
    correlation_id: str = ""

    @classmethod
    def for_key(cls, key: ApiKey, *, client_address: str | None, correlation_id: str) -> Caller:
        account_ids = frozenset(key.accounts.values_list("account_id", flat=True))
        return cls(
            user=key.user,
            viewer=NarrowedViewer(
                user=key.user,
                account_ids=account_ids or None,
                label=str(key.user.get_username()),
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
    def for_local_user(cls, user: AbstractBaseUser) -> Caller:
        """A local stdio client runs as the user named on the command line, with every scope:
        whoever can start the command already has the server's shell."""
        return cls(
            user=user,
            viewer=NarrowedViewer(user=user, label=str(user.get_username())),
            scopes=frozenset(ApiKey.ALL_SCOPES),
            subject=f"user:{user.pk}",
            interface="stdio",
        )

    def with_call(self, correlation_id: str) -> Caller:
        """The same caller for one call (stdio serves many calls per process)."""
        return replace(self, correlation_id=correlation_id)
