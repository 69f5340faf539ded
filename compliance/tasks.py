"""Background tasks, run by ``manage.py db_worker`` (django-tasks with the database backend)."""

from __future__ import annotations

from django_tasks import task

from compliance import scan_watchdog
from compliance.scans import ScanNotRunnable, execute_scan


@task()
def run_scan_task(scan_id: int) -> str:
    """Run one queued scan; a scan this task cannot finish never stays "running".

    Scans left running by a lost worker are failed first (no worker is left to do it), so a
    worker that comes back after a crash cleans up before its first scan.
    """
    scan_watchdog.fail_stale_scans()
    try:
        scan = execute_scan(scan_id)
    except ScanNotRunnable:
        raise  # claimed by another worker, or already ended: not this task's scan to fail
    except BaseException as error:
        scan_watchdog.record_interrupted_scan(scan_id, error)
        raise
    return scan.status
