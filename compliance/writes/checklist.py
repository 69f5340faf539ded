"""Writes of the checklist: queueing, evaluating and storing a run, failing a lost one,
attesting an item. Each audited in its transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.checklist.base import SessionFactory
from compliance.checklist.evaluation import ItemResult, evaluate, summary
from compliance.checklist.items import ITEMS, ITEMS_BY_ID
from compliance.models import Attestation, AuditEvent, ChecklistResult, ChecklistRun
from compliance.permissions import Action
from compliance.permissions.callers import SYSTEM, Viewer, person_of, viewer_label
from compliance.writes.refusals import ActionError, refuse, require

logger = logging.getLogger(__name__)

#: An attestation is a promise about a moving system: it must be renewed at least yearly.
MAX_ATTESTATION_LIFETIME = timedelta(days=366)
MAX_EVIDENCE_CHARS = 5000

#: A queued or running run silent this long can no longer finish: its task was lost (a worker
#: killed, no worker running). Far above a run's length (minutes: one item's AWS calls are
#: bounded by botocore's timeouts), and above the longest scan a single worker may be busy with
#: before it takes the run up (``SCAN_STALE_AFTER_SECONDS``, one hour by default).
STALE_AFTER = timedelta(hours=1)
ACTIVE = (ChecklistRun.Status.QUEUED, ChecklistRun.Status.RUNNING)


def do_run_security_checklist(
    *,
    acting: Viewer,
    interface: str = "cli",
    now: datetime | None = None,
    session_for: SessionFactory | None = None,
) -> tuple[ChecklistRun, list[ItemResult]]:
    """Evaluate every item now, in this process, and keep the results as a new run of the
    history: the command's way (it may wait on AWS; a web request queues a run instead)."""
    require(acting, Action.RUN_CHECKLIST, interface=interface)
    results = evaluate(now=now, session_for=session_for)
    checked_at = results[0].checked_at if results else timezone.now()
    with transaction.atomic():
        run = ChecklistRun.objects.create(
            checked_at=checked_at,
            requested_by=viewer_label(acting),
            interface=interface,
            status=ChecklistRun.Status.FINISHED,
            items_done=len(results),
            items_total=len(results),
        )
        _store_results(run, results, acting=acting, interface=interface)
    return run, results


def _store_results(
    run: ChecklistRun,
    results: list[ItemResult],
    *,
    acting: Viewer,
    interface: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """The run's results and its ``checklist.evaluated`` row; inside the caller's transaction."""
    ChecklistResult.objects.bulk_create(
        ChecklistResult(
            run=run,
            item_id=r.item.id,
            section=r.item.section,
            title=r.item.title,
            required=r.item.required,
            kind=r.item.kind,
            status=r.status,
            evidence=r.evidence,
            checked_at=r.checked_at,
            attestation=r.attestation,
        )
        for r in results
    )
    audit.record(
        EventType.CHECKLIST_EVALUATED,
        acting=acting,
        interface=interface,
        target=f"checklist run {run.pk}",
        detail={**summary(results), **(detail or {})},
    )


def do_start_security_checklist(*, acting: Viewer, interface: str = "web") -> ChecklistRun:
    """Queue a run for the task workers (``manage.py db_worker``): its AWS items call AWS, which
    no web request waits on. Only the queued run and its audit row are written here, in one
    transaction; the task is enqueued once that commits, so a worker never looks for a run a
    rollback took away.

    One run at a time: while one is queued or running, another is refused (a second click
    would evaluate the same items twice). Runs that can no longer finish are failed first, so a
    lost one never blocks the button.
    """
    require(acting, Action.RUN_CHECKLIST, interface=interface, target="security checklist")
    do_fail_stale_checklist_runs()
    active = ChecklistRun.objects.filter(status__in=ACTIVE).order_by("pk").first()
    if active is not None:
        raise refuse(
            EventType.CHECKLIST_EVALUATED,
            f"checklist run #{active.pk} is already {active.status}; wait for it to finish",
            acting=acting,
            interface=interface,
            target=f"checklist run {active.pk}",
        )
    with transaction.atomic():
        run = ChecklistRun.objects.create(
            checked_at=timezone.now(),
            requested_by=viewer_label(acting),
            interface=interface,
            status=ChecklistRun.Status.QUEUED,
            items_total=len(ITEMS),
        )
        audit.record(
            EventType.CHECKLIST_EVALUATED,
            acting=acting,
            interface=interface,
            target=f"checklist run {run.pk}",
            detail={"status": run.status},
        )
        transaction.on_commit(partial(_enqueue, run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from compliance.tasks import run_security_checklist_task  # that module imports the scans

    run_security_checklist_task.enqueue(run_id)


def do_evaluate_checklist_run(
    run_id: int, *, now: datetime | None = None, session_for: SessionFactory | None = None
) -> ChecklistRun:
    """Evaluate a queued run (the task's work): claim it, evaluate every item while keeping its
    progress current, then store the results, finish it and audit it in one transaction.

    A run that is not queued (taken by another worker, or failed as stale) is left alone. A run
    this cannot finish does not stay running: it is failed (and audited) before the error goes
    on to the task's result.
    """
    do_fail_stale_checklist_runs()
    claimed = ChecklistRun.objects.filter(pk=run_id, status=ChecklistRun.Status.QUEUED).update(
        status=ChecklistRun.Status.RUNNING,
        heartbeat_at=timezone.now(),
        items_done=0,
        items_total=len(ITEMS),
    )
    if not claimed:
        return ChecklistRun.objects.get(pk=run_id)

    def heartbeat(done: int) -> None:
        ChecklistRun.objects.filter(pk=run_id, status=ChecklistRun.Status.RUNNING).update(
            items_done=done, heartbeat_at=timezone.now()
        )

    try:
        results = evaluate(now=now, session_for=session_for, progress=heartbeat)
        with transaction.atomic():
            run = ChecklistRun.objects.select_for_update().get(pk=run_id)
            if run.status != ChecklistRun.Status.RUNNING:
                return run  # failed as stale meanwhile: its end is already recorded
            run.status = ChecklistRun.Status.FINISHED
            run.checked_at = results[0].checked_at if results else timezone.now()
            run.items_done = len(results)
            run.heartbeat_at = timezone.now()
            run.save(update_fields=["status", "checked_at", "items_done", "heartbeat_at"])
            _store_results(
                run,
                results,
                acting=SYSTEM,
                interface="task",
                detail={"requested_by": run.requested_by},
            )
    except BaseException as error:
        _record_interrupted_run(run_id, error)
        raise
    return run


def _silent_since(cutoff: datetime) -> Q:
    """Active runs whose last sign of life (the worker's latest, else the request) is older."""
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, checked_at__lt=cutoff)


def do_fail_stale_checklist_runs(*, now: datetime | None = None) -> list[int]:
    """Fail every queued or running run silent for longer than ``STALE_AFTER``; their ids.

    Run before a run is requested or evaluated and whenever the checklist page is read: no run
    stays "running" for ever, and a lost one does not block the next. Safe to run anywhere at
    once: each run is failed by one conditional update, so failed and audited once.
    """
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    minutes = int(STALE_AFTER.total_seconds() // 60)
    failed = []
    for run in ChecklistRun.objects.filter(_silent_since(cutoff), status__in=ACTIVE).order_by("pk"):
        if run.status == ChecklistRun.Status.QUEUED:
            message = (
                f"no task worker took it up within {minutes} minutes (is manage.py db_worker "
                "running?)"
            )
        else:
            message = (
                f"no sign of life for more than {minutes} minutes after {run.items_done} of "
                f"{run.items_total} items; the worker running it was lost"
            )
        if _mark_failed(run.pk, message, {"reason": "stale"}, also=_silent_since(cutoff)):
            failed.append(run.pk)
    return failed


def _record_interrupted_run(run_id: int, error: BaseException) -> None:
    """After the run raised in this process: fail it unless it ended. The connection may be
    what failed, so a broken one is dropped first; if the database does not answer, the run is
    failed later as stale."""
    try:
        connection.close_if_unusable_or_obsolete()
        _mark_failed(run_id, f"stopped: {type(error).__name__}", {"reason": type(error).__name__})
    except DatabaseError:
        logger.exception("checklist run #%s: could not record its failure", run_id)


def _mark_failed(run_id: int, message: str, detail: dict[str, Any], also: Q | None = None) -> bool:
    """Flip an active run to failed and audit it, in one transaction; False if it had ended."""
    with transaction.atomic():
        active = ChecklistRun.objects.filter(pk=run_id, status__in=ACTIVE)
        if also is not None:
            active = active.filter(also)
        if not active.update(status=ChecklistRun.Status.FAILED, error=message):
            return False
        audit.record(
            EventType.CHECKLIST_EVALUATED,
            acting=SYSTEM,
            interface="task",
            target=f"checklist run {run_id}",
            outcome=AuditEvent.Outcome.ERROR,
            detail={**detail, "error": message},
        )
    logger.warning("checklist run #%s marked failed: %s", run_id, message)
    return True


def _check_attestation(
    item_id: str, evidence: str, link: str, expires_at: datetime, now: datetime
) -> None:
    item = ITEMS_BY_ID.get(item_id)
    if item is None:
        raise ActionError(f"item: unknown checklist item {item_id[:64]!r}")
    if not item.attestable:
        raise ActionError(f"item: {item_id} is evaluated automatically and cannot be attested")
    if not evidence.strip() or len(evidence) > MAX_EVIDENCE_CHARS:
        raise ActionError(f"evidence: required, at most {MAX_EVIDENCE_CHARS} characters")
    if link:
        try:
            URLValidator(schemes=["https", "http"])(link)
        except ValidationError:
            raise ActionError("link: not an http(s) URL") from None
        if len(link) > 500:
            raise ActionError("link: at most 500 characters")
    elif item.link_required:
        raise ActionError(f"link: {item_id} needs a link to the document it vouches for")
    if timezone.is_naive(expires_at):
        raise ActionError("expires_at: give a time zone")
    if expires_at <= now:
        raise ActionError("expires_at: must be in the future")
    if expires_at > now + MAX_ATTESTATION_LIFETIME:
        raise ActionError("expires_at: at most one year ahead; attestations must be renewed")


def do_attest_checklist_item(
    item_id: str,
    *,
    evidence: str,
    link: str = "",
    expires_at: datetime,
    acting: Viewer,
    interface: str = "cli",
) -> Attestation:
    """Record that an item holds, on the acting person's word, until ``expires_at``."""
    now = timezone.now()
    require(acting, Action.ATTEST, interface=interface, target=item_id[:200])
    try:
        _check_attestation(item_id, evidence, link.strip(), expires_at, now)
    except ActionError as exc:
        raise refuse(
            EventType.CHECKLIST_ATTESTED,
            str(exc),
            acting=acting,
            interface=interface,
            target=item_id[:200],
        ) from None
    person = person_of(acting)
    with transaction.atomic():
        attestation = Attestation.objects.create(
            item_id=item_id,
            attested_by=person if isinstance(person, User) else None,
            attested_by_label=viewer_label(acting),
            evidence=evidence.strip(),
            link=link.strip(),
            expires_at=expires_at,
        )
        audit.record(
            EventType.CHECKLIST_ATTESTED,
            acting=acting,
            interface=interface,
            target=item_id,
            detail={
                "attestation_id": attestation.pk,
                "evidence": attestation.evidence[:500],
                "link": attestation.link,
                "expires_at": expires_at.isoformat(),
            },
        )
    return attestation
