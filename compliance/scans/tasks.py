"""The tasks of a fanned-out scan (``compliance.scans.fanout``), run by ``manage.py db_worker``.

Each returns a word on what it did, kept with the task's result. Like the one-process scan
task, none leaves its scan "running" when it cannot go on: scans of lost workers are failed
before a scan starts, and a task stopped by a lost database connection or a signal fails its
scan once the database answers again (``compliance.scans.watchdog``).
"""

from __future__ import annotations

from django_tasks import task

from compliance.scans import fanout
from compliance.scans import watchdog as scan_watchdog


@task()
def start_scan_task(scan_id: int) -> str:
    scan_watchdog.fail_stale_scans()
    return scan_watchdog.run_guarded(scan_id, lambda: fanout.start(scan_id).status)


@task()
def run_partition_task(scan_id: int, partition_id: int) -> str:
    return scan_watchdog.run_guarded(scan_id, lambda: fanout.run_partition(partition_id))


@task()
def finalise_scan_task(scan_id: int) -> str:
    return scan_watchdog.run_guarded(scan_id, lambda: fanout.finalise_fanned_out(scan_id))
