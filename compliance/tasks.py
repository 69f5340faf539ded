"""Background tasks, run by ``manage.py db_worker`` (django-tasks with the database backend)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from compliance.models import AwsAccount
from compliance.reads.scans import latest_scan
from compliance.scans import execute_scan
from compliance.scans import watchdog as scan_watchdog
from compliance.stored.costs import refresh_costs
from compliance.stored.showback import refresh_showback
from compliance.stored.summary import store_rule_figures
from compliance.writes.checklist import do_evaluate_checklist_run


@task()
def run_scan_task(scan_id: int) -> str:
    """Run one queued scan; a scan this task cannot finish never stays "running".

    Scans left running by a lost worker are failed first (no worker is left to do it), so a
    worker that comes back after a crash cleans up before its first scan.
    """
    scan_watchdog.fail_stale_scans()
    return scan_watchdog.run_guarded(scan_id, lambda: execute_scan(scan_id).status)


@task()
def refresh_stored_figures_task() -> str:
    """Store again the figures that depend on which exemptions are active and are not history:
    the latest scan's violations per rule (the violations page) and the stored costs (their
    gap and cost at stake).

    Queued with every exemption created or removed, and for an exemption's expiry; until it
    has run, those figures are counted live (the stored ones say which exemptions they were
    made under). The summary's figures are the latest scan's snapshots, kept as they were:
    they are counted live until the next scan. Holds the accounts' row locks, as a
    finalisation does.
    """
    now = timezone.now()
    with transaction.atomic():
        list(AwsAccount.objects.select_for_update().order_by("account_id").values_list("pk"))
        scan = latest_scan()
        if scan is not None:
            store_rule_figures(scan, now)
        refresh_costs(now)
    return f"figures stored for scan #{scan.pk}" if scan is not None else "no finished scan"


@task()
def refresh_showback_task() -> str:
    """Store showback's sums again after an allocation change (``compliance.stored.showback``).
    Queued by every change of an allocation or shared-cost rule rather than run in the admin's
    request: on a large estate it reads every bill line. Until it has run, showback is computed
    from the bill lines (the stored sums are marked with the allocation version)."""
    refresh_showback()
    return "showback sums stored"


@task()
def run_security_checklist_task(run_id: int) -> str:
    """Evaluate one checklist run queued from the dashboard ("Run checks now"): its AWS items
    call AWS, which no web request waits on. A run this task cannot finish is failed, never left
    "running" (``compliance.writes.checklist``)."""
    run = do_evaluate_checklist_run(run_id)
    return f"checklist run #{run.pk} {run.status}"
