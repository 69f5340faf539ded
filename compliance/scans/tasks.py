"""The tasks of a fanned-out scan (``compliance.scans.fanout``), run by ``manage.py db_worker``.

Each returns a word on what it did, kept with the task's result. Like the one-process scan
task, none leaves its scan "running" when it cannot go on: scans of lost workers are failed
before a scan starts, and a task stopped by a lost database connection or a signal fails its
scan once the database answers again (``compliance.scan_watchdog``).
"""

from __future__ import annotations

from collections.abc import Callable

from django_tasks import task

from compliance import scan_watchdog
from compliance.scans import ScanNotRunnable, fanout


def _failing_scan_on_interruption(scan_id: int, step: Callable[[], str]) -> str:
    try:
        return step()
    except ScanNotRunnable:
        raise  # claimed by another worker, or already ended: not this task's scan to fail
    except BaseException as error:
        scan_watchdog.record_interrupted_scan(scan_id, error)
        raise


@task()
def start_scan_task(scan_id: int) -> str:
    scan_watchdog.fail_stale_scans()
    return _failing_scan_on_interruption(scan_id, lambda: fanout.start(scan_id).status)


@task()
def run_partition_task(scan_id: int, partition_id: int) -> str:
    return _failing_scan_on_interruption(scan_id, lambda: fanout.run_partition(partition_id))


@task()
def finalise_scan_task(scan_id: int) -> str:
    return _failing_scan_on_interruption(scan_id, lambda: fanout.finalise_fanned_out(scan_id))
