"""What the checklist needs to know of the MCP endpoint, told by the endpoint itself.

The endpoint is a face built on ``compliance``, so ``compliance`` never imports it: instead
``mcp_endpoint`` registers these facts when its app is ready (``mcp_endpoint.apps``). Until it
has (the endpoint not installed), the items that need them say they could not tell, rather than
pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: An ASGI application, as the probe calls it (scope, receive, send).
AsgiApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


@dataclass(frozen=True, slots=True)
class ApiKeyAges:
    #: Keys usable now: neither revoked nor expired.
    active: int
    #: Prefixes of the usable keys created before the cutoff asked about, oldest first.
    older: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class McpEndpointFacts:
    #: Where the endpoint is mounted beside Django (``/mcp``).
    path: str
    #: A new instance of the application as it is served (the endpoint on ``path``, Django for
    #: every other path), for the checklist to ask as an anonymous client would.
    build_application: Callable[[], AsgiApp]
    #: ``api_key_ages(now, created_before)``: the endpoint's usable keys, and which are older.
    api_key_ages: Callable[[datetime, datetime], ApiKeyAges]


_mcp_endpoint: McpEndpointFacts | None = None


def register_mcp_endpoint(facts: McpEndpointFacts) -> None:
    """Called once by ``mcp_endpoint`` at start-up; a second call replaces the first."""
    global _mcp_endpoint  # one registration per process, made at app ready
    _mcp_endpoint = facts


def mcp_endpoint() -> McpEndpointFacts | None:
    return _mcp_endpoint
