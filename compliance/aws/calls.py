"""How many requests a scan sends to AWS, and how many AWS throttled.

Every botocore session the product makes counts its HTTP requests (each attempt, retries
included) and the throttled answers among them, into the counter of the thread making the call:
:func:`counting` opens one around a unit of work (a scan job, reaching an account), so the
shared clients of an account still give exact per-job figures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: Error codes AWS uses to say "slow down" (as botocore's retry handlers know them), and the
#: HTTP status some services answer with instead.
THROTTLING_CODES = frozenset(
    {
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
        "LimitExceededException",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ThrottledException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
THROTTLING_STATUS = 429


@dataclass(slots=True)
class CallCount:
    requests: int = 0
    throttled: int = 0


_local = threading.local()


@contextmanager
def counting() -> Iterator[CallCount]:
    """Count the AWS requests this thread makes until the block ends (nested blocks count into
    the innermost only)."""
    count = CallCount()
    outer = getattr(_local, "count", None)
    _local.count = count
    try:
        yield count
    finally:
        _local.count = outer


def is_throttled(response: Any) -> bool:
    """Whether a botocore ``(http_response, parsed)`` answer says the caller was throttled."""
    if not response:
        return False
    http, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    return code in THROTTLING_CODES or getattr(http, "status_code", None) == THROTTLING_STATUS


def _on_attempt(response: Any = None, **_: Any) -> None:
    # ``needs-retry`` is emitted once after every attempt, whatever its result.
    count = getattr(_local, "count", None)
    if count is None:
        return
    count.requests += 1
    if is_throttled(response):
        count.throttled += 1


def instrument(core_session: Any) -> None:
    """Count the requests of every client ``core_session`` (a botocore session) makes."""
    core_session.register("needs-retry", _on_attempt, unique_id="finops-call-count")
