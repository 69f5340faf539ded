"""PostgreSQL connections come from one bounded pool per process, whatever the threads do.

Each page runs in a thread of its own under the ASGI server; a connection kept per thread would
be left open when the thread ends, until PostgreSQL refuses new clients.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import close_old_connections, connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's connection pool"
)

THREADS = 40


def backends(cursor: Any) -> int:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    return int(cursor.fetchone()[0])


def a_request(_number: int) -> int:
    """What a page does with the database: a query, then the request cycle's clean-up."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid() FROM pg_sleep(0.02)")
            return int(cursor.fetchone()[0])
    finally:
        close_old_connections()


def test_threads_share_a_bounded_pool_and_leave_no_connection_behind(
    transactional_db: None,
) -> None:
    pool = getattr(connection, "pool", None)
    assert pool is not None, "PostgreSQL connections are pooled by default"
    with connection.cursor() as cursor:
        before = backends(cursor)
    # A new thread per request, as the ASGI server runs pages, many at once.
    with ThreadPoolExecutor(THREADS) as threads:
        pids = list(threads.map(a_request, range(THREADS * 3)))
    assert len(pids) == THREADS * 3
    assert len(set(pids)) <= pool.max_size < THREADS
    with connection.cursor() as cursor:
        assert backends(cursor) <= max(before, pool.max_size)
