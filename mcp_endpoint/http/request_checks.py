"""What ``/mcp`` checks of a request itself, whoever sent it: its correlation id, its client
address, its Host and Origin, the size of its body and the shape of the JSON in it.

Each check answers with a :class:`Refusal` (or ``None``) and leaves auditing and answering to
the gate, so that every refusal is recorded and written one way.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope

from compliance.web import network
from mcp_endpoint import guards
from mcp_endpoint.http.jsonrpc_errors import INVALID_REQUEST, PARSE_ERROR, Refusal

CORRELATION_HEADER = "x-correlation-id"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


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


def host_or_origin_refusal(headers: Headers) -> Refusal | None:
    if not _host_allowed(headers.get("host")):
        return Refusal(421, INVALID_REQUEST, "Host not allowed (ALLOWED_HOSTS)", "host")
    origin = headers.get("origin")
    if origin is not None and origin not in settings.MCP_ALLOWED_ORIGINS:
        return Refusal(403, INVALID_REQUEST, "Origin not allowed (MCP_ALLOWED_ORIGINS)", "origin")
    return None


async def read_capped_body(
    receive: Receive, headers: Headers
) -> tuple[bytes, list[Message]] | Refusal:
    """The declared length refuses a body too big before a byte of it is read; counting while
    reading refuses one whose length was not declared, or was declared short."""
    limit = settings.MCP_MAX_REQUEST_BYTES
    declared = headers.get("content-length")
    too_big = Refusal(
        413,
        INVALID_REQUEST,
        f"request body larger than {limit} bytes (MCP_MAX_REQUEST_BYTES)",
        "body_size",
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return too_big
    body, trailing = await _read_body(receive, limit)
    if body is None:
        return too_big
    return body, trailing


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


def parse_message(body: bytes) -> tuple[Any, Refusal | None]:
    try:
        message = json.loads(body)
    except RecursionError:
        return None, Refusal(400, INVALID_REQUEST, "request JSON nested too deeply", "json_depth")
    except ValueError:
        return None, Refusal(400, PARSE_ERROR, "request body is not valid JSON", "parse_error")
    try:
        guards.check_json_shape(
            message,
            max_depth=settings.MCP_MAX_JSON_DEPTH,
            max_keys=settings.MCP_MAX_JSON_KEYS,
        )
    except guards.Refusal as refusal:
        setting = "MCP_MAX_JSON_DEPTH" if refusal.limit == "json_depth" else "MCP_MAX_JSON_KEYS"
        return None, Refusal(400, INVALID_REQUEST, f"{refusal.message} ({setting})", refusal.limit)
    problem = _envelope_problem(message)
    if problem is not None:
        return None, Refusal(400, INVALID_REQUEST, problem, "invalid_request")
    return message, None


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
