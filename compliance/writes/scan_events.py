"""The audit rows of a scan's life (started, finished, failed), written by the scan engine
inside the transaction that changes the scan's row, so the log and the row never disagree."""

from __future__ import annotations

from typing import Any

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent, Scan
from compliance.permissions.callers import SYSTEM


def record_scan_started(scan: Scan) -> None:
    audit.record(EventType.SCAN_STARTED, acting=SYSTEM, target=f"scan #{scan.pk}")


def record_scan_finished(scan: Scan, *, failed_jobs: int) -> None:
    audit.record(
        EventType.SCAN_FINISHED,
        acting=SYSTEM,
        target=f"scan #{scan.pk}",
        detail={
            "status": scan.status,
            "total_resources": scan.total_resources,
            "violations": scan.violation_count,
            "failed_jobs": failed_jobs,
        },
    )


def record_scan_failed(scan: Scan, detail: dict[str, Any]) -> None:
    audit.record(
        EventType.SCAN_FAILED,
        acting=SYSTEM,
        target=f"scan #{scan.pk}",
        outcome=AuditEvent.Outcome.ERROR,
        detail=detail,
    )
