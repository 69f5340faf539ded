"""Running ORM work from the async MCP transport.

The ORM is synchronous, so every database step of a call runs in a worker thread. With SQLite
all of them share one thread (``thread_sensitive``): SQLite allows one writer at a time, and
one thread keeps the transaction handling simple. With PostgreSQL calls run in parallel
threads, each taking a connection from the process's pool (``DATABASE_POOL_MAX_SIZE``) and
giving it back after the step: ``close_old_connections`` before and after, as Django's request
cycle does, since this path bypasses that cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def _uses_sqlite() -> bool:
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("sqlite3")


def _recycling_connections(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return run


async def in_db_thread(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    runner = sync_to_async(_recycling_connections(fn), thread_sensitive=_uses_sqlite())
    return await runner(*args, **kwargs)
