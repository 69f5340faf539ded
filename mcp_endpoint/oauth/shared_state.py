"""Where the state every web process must share is kept: the cache.

allauth keeps authorization codes, device codes, sign-in rate limits and one-time sign-in
codes in Django's default cache. A cache private to each process (``LocMemCache``) breaks all
of them as soon as more than one web worker runs: a code issued by one worker is unknown to the
next (``invalid_grant``), and every worker counts failed sign-ins on its own. So the cache is
Redis when ``REDIS_URL`` is set and a table in the database otherwise, which every worker
already shares. The table is created by a migration (``mcp_endpoint`` 0002), so a clean install
has it without running ``createcachetable``.

Importable from settings: no models, no Django setup needed.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: The table of the database cache (created by a migration whatever the cache in use).
CACHE_TABLE = "shared_cache"
#: Entries kept before some are culled. Django culls expired entries first, then a share of
#: the rest in key order (not by age), whatever they hold: an authorization code, a rate-limit
#: counter or a used SAML assertion as readily as anything else. So the bound is far above
#: what an install keeps live (codes live a minute, counters an hour at most), even under a
#: flood of failed sign-ins from many addresses.
CACHE_MAX_ENTRIES = 1_000_000
#: Keys up to this length, of printable ASCII, are stored as they are (the table's key column
#: holds 255 characters).
PLAIN_KEY_LENGTH = 200


def cache_key(key: str, key_prefix: str, version: int) -> str:
    """The stored form of a cache key (Django's ``KEY_FUNCTION``).

    allauth builds some keys from what a client sends (an authorization code, a client ID), so
    a key may hold any character and any length: PostgreSQL refuses a NUL in text, the table's
    key column holds 255 characters. Such a key is stored as its SHA-256 digest instead; every
    other key stays readable.
    """
    plain = f"{key_prefix}:{version}:{key}"
    if len(plain) <= PLAIN_KEY_LENGTH and plain.isascii() and plain.isprintable():
        return plain
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key_prefix}:{version}:sha256:{digest}"


def cache_settings(redis_url: str) -> dict[str, Any]:
    """The ``default`` entry of ``CACHES``: Redis when configured, the database otherwise."""
    key_function = f"{__name__}.cache_key"
    if redis_url:
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_FUNCTION": key_function,
        }
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": CACHE_TABLE,
        "OPTIONS": {"MAX_ENTRIES": CACHE_MAX_ENTRIES},
        "KEY_FUNCTION": key_function,
    }
