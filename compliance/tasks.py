"""Background tasks, run by ``manage.py db_worker`` (django-tasks with the database backend)."""

from __future__ import annotations

from django_tasks import task

from compliance.scans import execute_scan


@task()
def run_scan_task(scan_id: int) -> str:
    scan = execute_scan(scan_id)
    return scan.status
