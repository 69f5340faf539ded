"""Who may call ``/mcp``: the bearer credential (an API key or an OAuth access token issued for
``/mcp``) resolved to a :class:`Caller`, or the 401 or 403 that says what is missing.

The incident lockdown and the Host/Origin verdict are settled here too, in the same database
step and before the credential: during an incident, or for a refused Host or Origin, no key is
even looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from starlette.datastructures import Headers
from starlette.types import Scope

from compliance.reads import incident
from compliance.web import network
from mcp_endpoint import credentials
from mcp_endpoint.db import in_db_thread
from mcp_endpoint.http.jsonrpc_errors import INVALID_REQUEST, SERVER_ERROR, Refusal
from mcp_endpoint.http.refusal_audit import Alert, Refuser
from mcp_endpoint.http.request_checks import host_or_origin_refusal
from mcp_endpoint.oauth import metadata
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import missing_scope_message
from mcp_endpoint.tools import TOOLS


@dataclass(frozen=True, slots=True)
class Resource:
    """The resource an access token must be issued for, and its metadata URL, which every
    challenge names; both empty when the Host was refused (Django builds URLs only for an
    allowed Host)."""

    url: str = ""
    metadata_url: str = ""


#: RFC 6750 3 and the MCP authorization specification: a 401 names the scopes to ask for,
#: so an OAuth client's authorization request asks for what the tools need (the consent page
#: then offers only those the person's role allows).
_TOOL_SCOPES = " ".join(metadata.MCP_SCOPES)


def bearer_challenge(resource_metadata: str, **params: str) -> str:
    """An RFC 6750 challenge pointing at the RFC 9728 metadata, so an OAuth client can find
    the authorization server from any 401 or 403 (``realm`` first, as clients of API keys know
    it)."""
    fields = {"realm": "mcp", **params, "resource_metadata": resource_metadata}
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in fields.items())


async def admit(refuser: Refuser, scope: Scope, headers: Headers) -> tuple[Caller, Resource] | None:
    """The caller and the resource, or ``None`` once the request has been refused."""
    refused_before_auth = host_or_origin_refusal(headers)
    resource = Resource()
    if refused_before_auth is None:
        here = metadata.request_for_scope(scope)
        resource = Resource(metadata.resource_url(here), metadata.metadata_url(here))
    found = await in_db_thread(
        _admit,
        _presented_bearer(headers),
        refused_before_auth,
        resource=resource.url,
        address=refuser.address,
        correlation=refuser.correlation,
    )
    if isinstance(found, Refusal):
        await refuser.refuse(found, AnonymousUser())
        return None
    if not isinstance(found, Caller):
        await _refuse_credential(refuser, found, resource.metadata_url)
        return None
    return found, resource


def _presented_bearer(headers: Headers) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _admit(
    presented: str,
    refused: Refusal | None,
    *,
    resource: str,
    address: str | None,
    correlation: str,
) -> Caller | credentials.Rejection | Refusal | None:
    """Who may call, in one database step: the lockdown first (during an incident no key is
    even looked at), then the Host/Origin verdict ``refused``, then the bearer credential
    (``None``: none was presented)."""
    if incident.mcp_locked_down():
        return Refusal(503, SERVER_ERROR, incident.LOCKDOWN_MESSAGE, "lockdown")
    if refused is not None:
        return refused
    if not presented:
        return None
    return credentials.authenticate(
        presented, resource=resource, address=address, correlation=correlation
    )


async def _refuse_credential(
    refuser: Refuser, rejection: credentials.Rejection | None, resource_metadata: str
) -> None:
    """401 for a missing (``rejection`` None) or refused credential."""
    if rejection is None:
        rejection = credentials.Rejection("missing", "credential")
        message = (
            "authentication required: send Authorization: Bearer <API key or OAuth access token>"
        )
        challenge = bearer_challenge(resource_metadata, scope=_TOOL_SCOPES)
    else:
        message = rejection.message
        challenge = bearer_challenge(
            resource_metadata,
            error="invalid_token",
            error_description=f"invalid {rejection.credential}",
            scope=_TOOL_SCOPES,
        )
    await refuser.refuse(
        Refusal(
            401,
            INVALID_REQUEST,
            message,
            rejection.public_reason,
            challenge,
            audit_reason=rejection.reason,
        ),
        AnonymousUser(),
        rejection.key_prefix,
        client_id=rejection.client_id,
        alert=Alert(
            "auth_failed",
            network.client_block(refuser.address) if refuser.address else "unknown",
            {
                "reason": rejection.reason,
                "key_prefix": rejection.key_prefix,
                **({"client_id": rejection.client_id} if rejection.client_id else {}),
            },
        ),
    )


def scope_refusal(
    message: Any, caller: Caller, resource_metadata: str
) -> tuple[Refusal | None, str]:
    """403 with RFC 6750's scope challenge, and the tool's name, when the credential is valid
    but ``message`` calls a tool whose scope it lacks."""
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None, ""
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    spec = TOOLS.get(name) if isinstance(name, str) else None
    if spec is None or spec.scope in caller.scopes:
        return None, ""
    return Refusal(
        403,
        INVALID_REQUEST,
        missing_scope_message(caller, spec.scope, spec.name),
        "insufficient_scope",
        bearer_challenge(resource_metadata, error="insufficient_scope", scope=spec.scope),
    ), spec.name
