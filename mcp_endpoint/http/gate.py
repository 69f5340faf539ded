"""The gate in front of the SDK's Streamable HTTP app: the checks of the sibling modules, in the
order that makes each one safe (see :mod:`mcp_endpoint.http`)."""

from __future__ import annotations

import logging
from collections import deque

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_endpoint.http.admission import Resource, admit, scope_refusal
from mcp_endpoint.http.jsonrpc_errors import (
    WATCHED_BYTES,
    Refusal,
    protocol_error,
    send_failure,
    send_get_refused,
)
from mcp_endpoint.http.refusal_audit import Refuser
from mcp_endpoint.http.request_checks import (
    CORRELATION_HEADER,
    client_address,
    correlation_id,
    parse_message,
    read_capped_body,
)
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import CALLER_SCOPE_KEY

# Named as before ``mcp_endpoint.http`` became a package, so that what filters on it still does.
logger = logging.getLogger("mcp_endpoint.http")


class McpGate:
    """ASGI middleware in front of the SDK app; see :mod:`mcp_endpoint.http`."""

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
                await send_failure(send_with_id, exc, correlation)

    async def _gate(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, correlation: str
    ) -> None:
        refuser = Refuser(send, correlation, client_address(scope, headers))
        admitted = await admit(refuser, scope, headers)
        if admitted is None:
            return
        caller, resource = admitted
        if scope["method"] == "GET":
            await send_get_refused(send)
            return
        replay: deque[Message] = deque()
        if scope["method"] == "POST":
            body = await self._checked_body(receive, headers, refuser, caller, resource)
            if body is None:
                return
            replay.extend(body)
        await self._serve(scope, receive, replay, refuser, caller)

    @staticmethod
    async def _checked_body(
        receive: Receive, headers: Headers, refuser: Refuser, caller: Caller, resource: Resource
    ) -> list[Message] | None:
        """The body's messages to replay to the SDK, or ``None`` once refused: read whole
        first, since its size and shape (and the tool it calls) are checked before the SDK
        sees a byte of it."""
        read = await read_capped_body(receive, headers)
        if isinstance(read, Refusal):
            await refuser.refuse_input(caller, read)
            return None
        body, trailing = read
        message, refusal = parse_message(body)
        tool = ""
        if refusal is None:
            refusal, tool = scope_refusal(message, caller, resource.metadata_url)
        if refusal is not None:
            await refuser.refuse_input(caller, refusal, tool)
            return None
        return [{"type": "http.request", "body": body, "more_body": False}, *trailing]

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        replay: deque[Message],
        refuser: Refuser,
        caller: Caller,
    ) -> None:
        """Hand the request to the SDK, watching its answer: refusals of the SDK itself
        (unknown method, bad params of a method) are audited too; refused tool calls are
        results, audited by the call gate."""

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
            elif message["type"] == "http.response.body" and len(answer) <= WATCHED_BYTES:
                answer.extend(message.get("body", b""))
            await refuser.send(message)

        scope = dict(scope)
        scope[CALLER_SCOPE_KEY] = caller
        await self.app(scope, replayed, watched)
        refused = protocol_error(status, bytes(answer))
        if refused is not None:
            await refuser.record(
                refused, caller.viewer, key_prefix=caller.key_prefix, client_id=caller.client_id
            )
