"""The HTTP side of ``/mcp``: the gate in front of the SDK's Streamable HTTP app.

Before the SDK sees a request, the gate gives it a correlation id, works out the client address
(forwarded headers only from ``TRUSTED_PROXY_CIDRS``), checks Host and Origin (DNS rebinding),
authenticates the bearer credential (an API key or an OAuth access token issued for ``/mcp``),
answers ``GET`` (a server-sent event stream, which a stateless JSON endpoint never opens) with
405, and reads the body with a size cap and a JSON depth and key-count
check. Every refusal is a JSON-RPC error with the right status and an audit row; nothing is
trusted for coming from localhost.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, transaction
from django.http.request import split_domain_port, validate_host
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from compliance import audit
from compliance.models import AuditEvent
from compliance.permissions.accounts import Viewer
from compliance.web import network
from compliance.writes import lockdown as incident
from mcp_endpoint import credentials, guards, monitoring
from mcp_endpoint.db import in_db_thread
from mcp_endpoint.events import McpEvent
from mcp_endpoint.oauth import metadata
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import CALLER_SCOPE_KEY, build_server, missing_scope_message
from mcp_endpoint.tools import TOOLS

logger = logging.getLogger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
#: JSON-RPC's implementation-defined server error range.
SERVER_ERROR = -32000


def correlation_id(presented: str | None) -> str:
    if presented and _CORRELATION_ID.fullmatch(presented):
        return presented
    return uuid.uuid4().hex


def client_address(scope: Scope, headers: Headers) -> str | None:
    client = scope.get("client")
    return network.client_address(client[0] if client else None, headers.getlist("x-forwarded-for"))


def _host_allowed(host: str | None) -> bool:
    if not host:
        return False
    domain, _port = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _envelope_problem(message: Any) -> str | None:
    """Why a body is not one JSON-RPC 2.0 message this endpoint takes (None when it is).

    Checked here, before the SDK, so that a malformed envelope gets a short message and an
    audit row like any other refused input (the SDK would answer with a pydantic dump of the
    input, unaudited, or accept an object as ``id`` as if the message were a notification).
    """
    if isinstance(message, list):
        return "batch requests are not supported: send one JSON-RPC message per request"
    if not isinstance(message, dict):
        return "the body must be one JSON-RPC 2.0 message (a JSON object)"
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc: must be "2.0"'
    ident = message.get("id")
    if "id" in message and (isinstance(ident, bool) or not isinstance(ident, str | int)):
        return "id: must be a string or an integer"
    if "method" not in message:
        if "id" in message and ("result" in message or "error" in message):
            return None  # a client's response to a server request
        return "method: required"
    method = message["method"]
    if not isinstance(method, str) or not method:
        return "method: must be a non-empty string"
    if "params" in message and not isinstance(message["params"], dict):
        return "params: must be an object"
    if "id" not in message and not method.startswith("notifications/"):
        return "id: required (only notifications/* messages go without one)"
    return None


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    code: int
    message: str
    reason: str
    www_authenticate: str | None = None


@dataclass(frozen=True, slots=True)
class _Alert:
    """A security event to count with a refusal (see :mod:`mcp_endpoint.monitoring`)."""

    kind: str
    source: str
    fields: dict[str, Any]


_GET_REFUSED = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": INVALID_REQUEST,
            "message": "method not allowed: this stateless endpoint takes POST only (no SSE)",
        },
    }
).encode()

#: The SDK's answers are JSON objects of a few hundred bytes when they are errors.
_WATCHED_BYTES = 65536


def _protocol_error(status: int, body: bytes) -> _Refusal | None:
    """The SDK's answer as a refusal to audit, when it is an HTTP or JSON-RPC error."""
    if status < 400 and b'"error"' not in body:
        return None  # no ``error`` member at all: not worth parsing a tool's answer for
    try:
        answer = json.loads(body) if body and len(body) <= _WATCHED_BYTES else None
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if status < 400 and not isinstance(error, dict):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return _Refusal(
        status,
        code if isinstance(code, int) else INVALID_REQUEST,
        str(message or f"HTTP {status}")[:500],
        "protocol_error",
    )


def bearer_challenge(resource_metadata: str, **params: str) -> str:
    """An RFC 6750 challenge pointing at the RFC 9728 metadata, so an OAuth client can find
    the authorization server from any 401 or 403 (``realm`` first, as clients of API keys know
    it)."""
    fields = {"realm": "mcp", **params, "resource_metadata": resource_metadata}
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in fields.items())


def _audit_refusal(
    refusal: _Refusal,
    *,
    acting: Viewer,
    correlation: str,
    address: str | None,
    key_prefix: str,
    client_id: str = "",
    tool: str = "",
    alert: _Alert | None = None,
) -> None:
    if alert is not None:
        monitoring.note(alert.kind, alert.source, **alert.fields)
    event = McpEvent.AUTH_FAILED if refusal.status == 401 else McpEvent.DENIED
    with transaction.atomic():
        audit.record(
            event,
            acting=acting,
            target=tool or "/mcp",
            outcome=AuditEvent.Outcome.DENIED,
            interface="mcp",
            correlation_id=correlation,
            client_address=address,
            detail={
                "status": refusal.status,
                "reason": refusal.reason,
                "key_prefix": key_prefix,
                **({"client_id": client_id} if client_id else {}),
                "error": refusal.message,
                **({"tool": tool} if tool else {}),
            },
        )


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body, or ``None`` as soon as it exceeds ``limit`` (never buffering more)."""
    body = bytearray()
    messages: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            messages.append(message)
            return bytes(body), messages
        body.extend(message.get("body", b""))
        if len(body) > limit:
            return None, messages
        if not message.get("more_body", False):
            return bytes(body), messages


def _host_or_origin_refusal(headers: Headers) -> _Refusal | None:
    if not _host_allowed(headers.get("host")):
        return _Refusal(421, INVALID_REQUEST, "Host not allowed (ALLOWED_HOSTS)", "host")
    origin = headers.get("origin")
    if origin is not None and origin not in settings.MCP_ALLOWED_ORIGINS:
        return _Refusal(403, INVALID_REQUEST, "Origin not allowed (MCP_ALLOWED_ORIGINS)", "origin")
    return None


def _admit(
    presented: str,
    refused: _Refusal | None,
    *,
    resource: str,
    address: str | None,
    correlation: str,
) -> Caller | credentials.Rejection | _Refusal | None:
    """Who may call, in one database step: the lockdown first (during an incident no key is
    even looked at), then the Host/Origin verdict ``refused``, then the bearer credential
    (``None``: none was presented)."""
    if incident.mcp_locked_down():
        return _Refusal(503, SERVER_ERROR, incident.LOCKDOWN_MESSAGE, "lockdown")
    if refused is not None:
        return refused
    if not presented:
        return None
    return credentials.authenticate(
        presented, resource=resource, address=address, correlation=correlation
    )


class McpGate:
    """ASGI middleware in front of the SDK app; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        correlation = correlation_id(headers.get(CORRELATION_HEADER))
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                message = dict(message)
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), correlation.encode()),
                ]
            await send(message)

        try:
            await self._gate(scope, receive, send_with_id, headers, correlation)
        except Exception as exc:
            # Sanitised like a tool's failure: the log has it all, the client hears what to do.
            logger.exception("/mcp request failed (correlation id %s)", correlation)
            if not answered:
                await _send_failure(send_with_id, exc, correlation)

    async def _gate(
        self, scope: Scope, receive: Receive, send_with_id: Send, headers: Headers, correlation: str
    ) -> None:
        address = client_address(scope, headers)

        async def refuse(
            refusal: _Refusal,
            acting: Viewer,
            key_prefix: str = "",
            tool: str = "",
            client_id: str = "",
            alert: _Alert | None = None,
        ) -> None:
            await in_db_thread(
                _audit_refusal,
                refusal,
                acting=acting,
                correlation=correlation,
                address=address,
                key_prefix=key_prefix,
                client_id=client_id,
                tool=tool,
                alert=alert,
            )
            await _send_refusal(send_with_id, refusal, correlation)

        anonymous = AnonymousUser()
        refused_before_auth = _host_or_origin_refusal(headers)
        resource = resource_metadata = ""
        if refused_before_auth is None:  # Django builds URLs only for an allowed Host
            here = metadata.request_for_scope(scope)
            resource, resource_metadata = metadata.resource_url(here), metadata.metadata_url(here)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        found = await in_db_thread(
            _admit,
            token.strip() if scheme.lower() == "bearer" else "",
            refused_before_auth,
            resource=resource,
            address=address,
            correlation=correlation,
        )
        if isinstance(found, _Refusal):
            await refuse(found, anonymous)
            return
        if not isinstance(found, Caller):
            await self._auth_failed(refuse, address, found, resource_metadata)
            return
        caller = found

        if scope["method"] == "GET":
            # Streamable HTTP's server-to-client stream: a stateless server that answers with
            # JSON never opens one, and says so at once (the SDK would hold the request open).
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [
                        (b"allow", b"POST"),
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_GET_REFUSED)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": _GET_REFUSED})
            return

        replay: deque[Message] = deque()
        if scope["method"] == "POST":
            limit = settings.MCP_MAX_REQUEST_BYTES
            declared = headers.get("content-length")
            too_big = _Refusal(
                413,
                INVALID_REQUEST,
                f"request body larger than {limit} bytes (MCP_MAX_REQUEST_BYTES)",
                "body_size",
            )
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await self._refused_input(refuse, caller, too_big)
                return
            body, trailing = await _read_body(receive, limit)
            if body is None:
                await self._refused_input(refuse, caller, too_big)
                return
            shape_refusal, tool = self._check_json(body, caller, resource_metadata)
            if shape_refusal is not None:
                await self._refused_input(refuse, caller, shape_refusal, tool)
                return
            replay.append({"type": "http.request", "body": body, "more_body": False})
            replay.extend(trailing)

        async def replayed() -> Message:
            if replay:
                return replay.popleft()
            return await receive()

        status = 0
        answer = bytearray()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and len(answer) <= _WATCHED_BYTES:
                answer.extend(message.get("body", b""))
            await send_with_id(message)

        scope = dict(scope)
        scope[CALLER_SCOPE_KEY] = caller
        await self.app(scope, replayed, watched)
        # Refusals of the SDK itself (unknown method, bad params of a method) are audited too;
        # refused tool calls are results, audited by the call gate.
        refused = _protocol_error(status, bytes(answer))
        if refused is not None:
            await in_db_thread(
                _audit_refusal,
                refused,
                acting=caller.viewer,
                correlation=correlation,
                address=address,
                key_prefix=caller.key_prefix,
                client_id=caller.client_id,
            )

    @staticmethod
    def _check_json(
        body: bytes, caller: Caller, resource_metadata: str
    ) -> tuple[_Refusal | None, str]:
        try:
            message = json.loads(body)
        except RecursionError:
            return _Refusal(
                400, INVALID_REQUEST, "request JSON nested too deeply", "json_depth"
            ), ""
        except ValueError:
            return _Refusal(400, PARSE_ERROR, "request body is not valid JSON", "parse_error"), ""
        try:
            guards.check_json_shape(
                message,
                max_depth=settings.MCP_MAX_JSON_DEPTH,
                max_keys=settings.MCP_MAX_JSON_KEYS,
            )
        except guards.Refusal as refusal:
            setting = "MCP_MAX_JSON_DEPTH" if refusal.limit == "json_depth" else "MCP_MAX_JSON_KEYS"
            return _Refusal(
                400, INVALID_REQUEST, f"{refusal.message} ({setting})", refusal.limit
            ), ""
        problem = _envelope_problem(message)
        if problem is not None:
            return _Refusal(400, INVALID_REQUEST, problem, "invalid_request"), ""
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None, ""
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        spec = TOOLS.get(name) if isinstance(name, str) else None
        if spec is not None and spec.scope not in caller.scopes:
            # RFC 6750 scope challenge: the credential is valid but does not allow this tool.
            return _Refusal(
                403,
                INVALID_REQUEST,
                missing_scope_message(caller, spec.scope, spec.name),
                "insufficient_scope",
                bearer_challenge(resource_metadata, error="insufficient_scope", scope=spec.scope),
            ), spec.name
        return None, ""

    @staticmethod
    async def _auth_failed(
        refuse: Any,
        address: str | None,
        rejection: credentials.Rejection | None,
        resource_metadata: str,
    ) -> None:
        """401 for a missing (``rejection`` None) or refused credential."""
        if rejection is None:
            rejection = credentials.Rejection("missing", "credential")
            message = (
                "authentication required: send Authorization: Bearer <API key or OAuth "
                "access token>"
            )
            challenge = bearer_challenge(resource_metadata)
        else:
            message = rejection.message
            challenge = bearer_challenge(
                resource_metadata,
                error="invalid_token",
                error_description=f"invalid {rejection.credential}",
            )
        await refuse(
            _Refusal(401, INVALID_REQUEST, message, rejection.reason, challenge),
            AnonymousUser(),
            rejection.key_prefix,
            client_id=rejection.client_id,
            alert=_Alert(
                "auth_failed",
                address or "unknown",
                {
                    "reason": rejection.reason,
                    "key_prefix": rejection.key_prefix,
                    **({"client_id": rejection.client_id} if rejection.client_id else {}),
                },
            ),
        )

    @staticmethod
    async def _refused_input(
        refuse: Any, caller: Caller, refusal: _Refusal, tool: str = ""
    ) -> None:
        alert = None
        if refusal.status != 403:
            alert = _Alert(
                "refused_input",
                caller.subject,
                {"reason": refusal.reason, "client_address": caller.client_address},
            )
        await refuse(refusal, caller.viewer, caller.key_prefix, tool, caller.client_id, alert)


#: Seconds a client is asked to wait before retrying when the database could not be reached.
RETRY_AFTER_SECONDS = 5


async def _send_refusal(
    send: Send, refusal: _Refusal, correlation: str, *extra: tuple[bytes, bytes]
) -> None:
    """``refusal`` as a JSON-RPC error answer (no ``id``: it answers no call of the SDK's)."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": refusal.code,
                "message": refusal.message,
                "data": {"reason": refusal.reason, "correlation_id": correlation},
            },
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    if refusal.www_authenticate:
        headers.append((b"www-authenticate", refusal.www_authenticate.encode()))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_failure(send: Send, exc: Exception, correlation: str) -> None:
    """The answer to a request that failed in the gate or the server (not in a tool): 503 when
    the database could not serve it (busy or unreachable: worth retrying), 500 otherwise. It
    names nothing of the failure; the correlation id finds it in the log."""
    where = f"the administrator can find it under correlation id {correlation}"
    if isinstance(exc, DatabaseError):
        unavailable = _Refusal(
            503,
            SERVER_ERROR,
            f"service unavailable: the server could not reach its database; {where}",
            "unavailable",
        )
        retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
        await _send_refusal(send, unavailable, correlation, retry)
        return
    failed = _Refusal(500, SERVER_ERROR, f"internal error; {where}", "internal_error")
    await _send_refusal(send, failed, correlation)


@dataclass
class McpEndpoint:
    """The MCP ASGI app (gate + SDK app) and the SDK server whose lifespan it needs."""

    server: MCPServer[Any]
    app: ASGIApp


def build_endpoint() -> McpEndpoint:
    """A new endpoint: stateless Streamable HTTP with JSON responses, so any worker of any
    machine can answer any request; Host and Origin are checked by our gate (against Django's
    ``ALLOWED_HOSTS`` and ``MCP_ALLOWED_ORIGINS``), not by the SDK's localhost defaults."""
    server = build_server()
    starlette_app = server.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=True,
        stateless_http=True,
        max_request_body_size=settings.MCP_MAX_REQUEST_BYTES,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return McpEndpoint(server=server, app=McpGate(starlette_app))
