"""The JSON-RPC error answers of ``/mcp``: the ones the gate writes, and the SDK's read back.

Every refusal and every failure goes out through :func:`send_refusal`, so that they all carry
the same body (with the reason and the correlation id) and the same headers; the SDK's own
error answers are read back by :func:`protocol_error` so that they can be audited too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import DatabaseError
from starlette.types import Send

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
#: JSON-RPC's implementation-defined server error range.
SERVER_ERROR = -32000

#: Seconds a client is asked to wait before retrying when the database could not be reached.
RETRY_AFTER_SECONDS = 5

#: The SDK's answers are JSON objects of a few hundred bytes when they are errors.
WATCHED_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: int
    message: str
    reason: str
    www_authenticate: str | None = None
    #: The precise reason for the audit row when the client is told a vaguer one (a refused
    #: credential); empty: ``reason`` is both.
    audit_reason: str = ""


async def send_refusal(
    send: Send, refusal: Refusal, correlation: str, *extra: tuple[bytes, bytes]
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


async def send_failure(send: Send, exc: Exception, correlation: str) -> None:
    """The answer to a request that failed in the gate or the server (not in a tool): 503 when
    the database could not serve it (busy or unreachable: worth retrying), 500 otherwise. It
    names nothing of the failure; the correlation id finds it in the log."""
    where = f"the administrator can find it under correlation id {correlation}"
    if isinstance(exc, DatabaseError):
        unavailable = Refusal(
            503,
            SERVER_ERROR,
            f"service unavailable: the server could not reach its database; {where}",
            "unavailable",
        )
        retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
        await send_refusal(send, unavailable, correlation, retry)
        return
    failed = Refusal(500, SERVER_ERROR, f"internal error; {where}", "internal_error")
    await send_refusal(send, failed, correlation)


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


async def send_get_refused(send: Send) -> None:
    """405 to ``GET``, Streamable HTTP's server-to-client stream: a stateless server that
    answers with JSON never opens one, and says so at once (the SDK would hold the request
    open). Not a :class:`Refusal`: a GET gets no audit row, and this body has no ``data``."""
    await send(
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
    await send({"type": "http.response.body", "body": _GET_REFUSED})


def protocol_error(status: int, body: bytes) -> Refusal | None:
    """The SDK's answer as a refusal to audit, when it is an HTTP or JSON-RPC error."""
    if status < 400 and b'"error"' not in body:
        return None  # no ``error`` member at all: not worth parsing a tool's answer for
    try:
        answer = json.loads(body) if body and len(body) <= WATCHED_BYTES else None
    except ValueError:
        answer = None
    error = answer.get("error") if isinstance(answer, dict) else None
    if status < 400 and not isinstance(error, dict):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return Refusal(
        status,
        code if isinstance(code, int) else INVALID_REQUEST,
        str(message or f"HTTP {status}")[:500],
        "protocol_error",
    )
