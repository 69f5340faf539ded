"""Fixed-window counters shared by every web process: Redis when ``REDIS_URL`` is set, the
database otherwise.

Both are exact under concurrency: a hit is counted only while the window is under its limit,
and the check and the increment are one atomic step (a Lua script in Redis, a conditional
``UPDATE`` in the database). With a limit of 100, 200 concurrent hits from any number of
processes give exactly 100 allowed. Windows are fixed (aligned to multiples of their length),
so "resets at" is the same instant for every process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from mcp_endpoint.models import GuardCounter

# Check and increment in one step; the first hit of a window sets its expiry.
_LUA_HIT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return {0, n} end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {1, n}
"""


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
    return client.register_script(_LUA_HIT)


def hit(
    name: str, subject: str, *, limit: int, window_seconds: int, now: float | None = None
) -> Hit:
    """Count one event of ``name`` for ``subject`` if its window is under ``limit``."""
    now = time.time() if now is None else now
    window = int(now // window_seconds)
    resets_at = datetime.fromtimestamp((window + 1) * window_seconds, UTC)
    key = f"ftc:{name}:{subject}:{window_seconds}:{window}"
    if settings.REDIS_URL:
        allowed, _count = _redis_script(settings.REDIS_URL)(
            keys=[key], args=[limit, window_seconds + 5]
        )
        return Hit(bool(allowed), resets_at)
    return Hit(_database_hit(key, limit, resets_at), resets_at)


def _database_hit(key: str, limit: int, resets_at: datetime) -> bool:
    for _attempt in range(2):
        if GuardCounter.objects.filter(key=key, hits__lt=limit).update(hits=F("hits") + 1):
            return True
        if GuardCounter.objects.filter(key=key).exists():
            return False
        if limit < 1:
            return False
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
