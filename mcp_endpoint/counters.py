"""Fixed-window counters shared by every web process: Redis when ``REDIS_URL`` is set, the
database otherwise.

Both are exact under concurrency: a hit is counted only while the window is under its limit,
and the check and the increment are one atomic step (a Lua script in Redis, a conditional
``UPDATE`` in the database). With a limit of 100, 200 concurrent hits from any number of
processes give exactly 100 allowed. Windows are fixed (aligned to multiples of their length),
so "resets at" is the same instant for every process.

Several windows can be counted in turn in one step (:func:`hit_in_turn`): a tool call passes
three guards, and with Redis that is one round trip instead of three.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from mcp_endpoint.models import GuardCounter

# Check and increment each window in turn, stopping at the first one that is full (it is not
# counted, the ones after it are not touched); the first hit of a window sets its expiry.
# Returns 0 when every window allowed the hit, else the (1-based) position of the full one.
_LUA_HIT_IN_TURN = """
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then return i end
  n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[2 * i]) end
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One counter to hit: ``limit`` events of ``name`` per ``seconds`` for ``subject``."""

    name: str
    subject: str
    limit: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Hit:
    allowed: bool
    resets_at: datetime

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil((self.resets_at - datetime.now(UTC)).total_seconds()))


@cache
def _redis_script(url: str) -> Any:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client.register_script(_LUA_HIT_IN_TURN)


def hit(
    name: str, subject: str, *, limit: int, window_seconds: int, now: float | None = None
) -> Hit:
    """Count one event of ``name`` for ``subject`` if its window is under ``limit``."""
    [verdict] = hit_in_turn([Window(name, subject, limit, window_seconds)], now=now)
    return verdict


def hit_in_turn(windows: Sequence[Window], *, now: float | None = None) -> list[Hit]:
    """Count one event in each window, in order, up to the first that is full.

    Returns the verdicts of the windows looked at: all allowed, or ending with the one refusal
    (later windows are neither checked nor counted, exactly as if ``hit`` had been called for
    each until one said no). With Redis the whole sequence is one atomic script.
    """
    now = time.time() if now is None else now
    keyed = []
    for window in windows:
        number = int(now // window.seconds)
        resets_at = datetime.fromtimestamp((number + 1) * window.seconds, UTC)
        key = f"ftc:{window.name}:{window.subject}:{window.seconds}:{number}"
        keyed.append((window, key, resets_at))
    if settings.REDIS_URL:
        full = int(
            _redis_script(settings.REDIS_URL)(
                keys=[key for _w, key, _r in keyed],
                args=[arg for w, _k, _r in keyed for arg in (w.limit, w.seconds + 5)],
            )
        )
        return [
            Hit(position != full, resets_at)
            for position, (_w, _k, resets_at) in enumerate(keyed[: full or len(keyed)], start=1)
        ]
    verdicts = []
    for window, key, resets_at in keyed:
        verdicts.append(Hit(_database_hit(key, window.limit, resets_at), resets_at))
        if not verdicts[-1].allowed:
            break
    return verdicts


def _database_hit(key: str, limit: int, resets_at: datetime) -> bool:
    if limit < 1:
        return False
    for _attempt in range(3):
        if GuardCounter.objects.filter(key=key, hits__lt=limit).update(hits=F("hits") + 1):
            return True
        hits = GuardCounter.objects.filter(key=key).values_list("hits", flat=True).first()
        if hits is not None:
            if hits >= limit:
                return False
            # The window was opened by another process between the UPDATE and this read (its
            # row was not committed yet when the UPDATE ran): count against it.
            continue
        try:
            with transaction.atomic():
                GuardCounter.objects.create(key=key, hits=1, expires_at=resets_at)
        except IntegrityError:
            continue  # another process opened the window first: count against its row
        # A new window is rare (once per subject and window): a good moment to drop old rows.
        GuardCounter.objects.filter(
            expires_at__lt=datetime.now(UTC) - timedelta(minutes=5)
        ).delete()
        return True
    return False
