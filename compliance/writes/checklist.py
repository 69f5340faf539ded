"""Writes of the checklist: storing a run, attesting an item. Each audited in its transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import PermissionsMixin, User
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.checklist.base import SessionFactory
from compliance.checklist.evaluation import ItemResult, evaluate, summary
from compliance.checklist.events import SecurityEvent
from compliance.checklist.items import ITEMS_BY_ID
from compliance.models import Attestation, AuditEvent, ChecklistResult, ChecklistRun
from compliance.permissions.accounts import NarrowedViewer, Operator, Viewer, viewer_label
from compliance.writes.refusals import ActionError

#: An attestation is a promise about a moving system: it must be renewed at least yearly.
MAX_ATTESTATION_LIFETIME = timedelta(days=366)
MAX_EVIDENCE_CHARS = 5000


def do_run_security_checklist(
    *,
    acting: Viewer,
    interface: str = "cli",
    now: datetime | None = None,
    session_for: SessionFactory | None = None,
) -> tuple[ChecklistRun, list[ItemResult]]:
    """Evaluate every item now and keep the results as a new run of the history."""
    results = evaluate(now=now, session_for=session_for)
    checked_at = results[0].checked_at if results else timezone.now()
    totals = summary(results)
    with transaction.atomic():
        run = ChecklistRun.objects.create(
            checked_at=checked_at, requested_by=viewer_label(acting), interface=interface
        )
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
            SecurityEvent.CHECKLIST_EVALUATED,
            acting=acting,
            interface=interface,
            target=f"checklist run {run.pk}",
            detail=dict(totals),
        )
    return run, results


def _may_attest(acting: Viewer) -> bool:
    if isinstance(acting, Operator):
        return True
    person = acting.user if isinstance(acting, NarrowedViewer) else acting
    return (
        isinstance(person, PermissionsMixin)
        and person.is_active
        and person.has_perm("compliance.add_attestation")
    )


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
    try:
        if not _may_attest(acting):
            raise ActionError("permission: attesting needs compliance.add_attestation")
        _check_attestation(item_id, evidence, link.strip(), expires_at, now)
    except ActionError as exc:
        with transaction.atomic():
            audit.record(
                SecurityEvent.CHECKLIST_ATTESTED,
                acting=acting,
                interface=interface,
                target=item_id[:200],
                outcome=AuditEvent.Outcome.DENIED,
                detail={"error": str(exc)},
            )
        raise
    person = acting.user if isinstance(acting, NarrowedViewer) else acting
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
            SecurityEvent.CHECKLIST_ATTESTED,
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
