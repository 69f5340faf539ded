"""The guards every tool call passes, on by default and read from settings at call time.

Each refusal is a :class:`Refusal` naming the limit, its value and when it resets, so the
assistant (and the person behind it) can tell a budget from a bug.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from mcp_endpoint import counters
from mcp_endpoint.principal import Caller


@dataclass(frozen=True, slots=True)
class Refusal(Exception):
    """A guard said no. ``limit`` is a stable name (for logs, audit and clients)."""

    limit: str
    message: str
    resets_at: datetime | None = None

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"limit": self.limit}
        if self.resets_at is not None:
            body["resets_at"] = self.resets_at.isoformat()
        return body


def canonical_arguments(arguments: dict[str, Any]) -> str:
    """One spelling of a call's arguments for loop detection: keys sorted at every level.

    The call gate passes the validated input's canonical form (``ToolInput.canonical``:
    defaults filled in, filter lists as sets), so equivalent calls share one fingerprint; a
    call refused before validation is counted by its arguments as sent.
    """
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_call(caller: Caller, tool: str, arguments: dict[str, Any]) -> None:
    """Per-key rate limit, hourly budget, then loop detection; raises :class:`Refusal`.

    A call refused by a later guard has still used the earlier ones: a client stuck in a loop
    spends its budget, which is the point of having one. The three counters are hit in turn in
    one step (one Redis round trip).
    """
    per_minute = settings.MCP_RATE_LIMIT_PER_MINUTE
    per_hour = settings.MCP_MAX_CALLS_PER_HOUR
    identical = settings.MCP_MAX_IDENTICAL_CALLS
    window = settings.MCP_LOOP_WINDOW_SECONDS
    fingerprint = hashlib.sha256(f"{tool}\0{canonical_arguments(arguments)}".encode()).hexdigest()[
        :32
    ]
    limits = [
        (
            counters.Window("rate_limit", caller.subject, per_minute, 60),
            f"rate limit: at most {per_minute} tool calls per minute for this key "
            "(MCP_RATE_LIMIT_PER_MINUTE)",
        ),
        (
            counters.Window("hourly_budget", caller.subject, per_hour, 3600),
            f"hourly call budget exhausted: at most {per_hour} tool calls per hour for this key "
            "(MCP_MAX_CALLS_PER_HOUR)",
        ),
        (
            counters.Window("loop_detected", f"{caller.subject}:{fingerprint}", identical, window),
            f"loop detected: {tool} was called with these same arguments {identical} times "
            f"within {window} s (MCP_MAX_IDENTICAL_CALLS); change the arguments or wait",
        ),
    ]
    verdicts = counters.hit_in_turn([limit for limit, _what in limits])
    refused = verdicts[-1]
    if refused.allowed:
        return
    limit, what = limits[len(verdicts) - 1]
    raise Refusal(
        limit.name,
        f"{what}; resets at {refused.resets_at:%Y-%m-%dT%H:%M:%SZ} "
        f"(in {refused.retry_after_seconds} s)",
        refused.resets_at,
    )


def check_json_shape(value: Any, *, max_depth: int, max_keys: int) -> None:
    """Refuse deeply nested or very wide JSON before any schema or handler sees it.

    Iterative, so a hostile document cannot exhaust the stack here either.
    """
    keys = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            raise Refusal("json_depth", f"request JSON nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            keys += len(item)
            if keys > max_keys:
                raise Refusal("json_keys", f"request JSON has more than {max_keys} keys")
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
