"""Evaluating the checklist, and reading the latest stored run back."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from compliance.aws.base import AccountTarget
from compliance.aws.session import Session
from compliance.checklist.base import Context, Item, Kind, Outcome, SessionFactory, Status
from compliance.checklist.items import ITEMS, ITEMS_BY_ID
from compliance.models import Attestation, ChecklistResult, ChecklistRun

logger = logging.getLogger(__name__)

#: Statuses that fail a required item (the command's exit code, CI and cron).
FAILING = frozenset({Status.FAIL, Status.EXPIRED})


@dataclass(frozen=True, slots=True)
class ItemResult:
    item: Item
    status: Status
    evidence: str
    checked_at: datetime
    attestation: Attestation | None = None

    @property
    def fails_gate(self) -> bool:
        return self.item.required and self.status in FAILING

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "section": str(self.item.section),
            "title": self.item.title,
            "required": self.item.required,
            "kind": str(self.item.kind),
            "status": str(self.status),
            "evidence": self.evidence,
            "checked_at": self.checked_at.isoformat(),
            "remedy": "" if self.status in (Status.PASS, Status.ATTESTED) else self.item.remedy,
        }


def default_session_for(target: AccountTarget | None) -> Session:
    from compliance.aws.checklist_checks import default_session
    from compliance.aws.session import new_session

    return default_session() if target is None else new_session(target)


def attestation_outcome(item: Item, now: datetime) -> tuple[Outcome, Attestation | None]:
    latest = Attestation.objects.filter(item_id=item.id).order_by("-created_at", "-id").first()
    if latest is None:
        return Outcome(Status.UNKNOWN, "Not attested yet. " + item.remedy), None
    when = f"{latest.created_at:%Y-%m-%d}"
    link = f" ({latest.link})" if latest.link else ""
    if not latest.is_current(now):
        return Outcome(
            Status.EXPIRED,
            f"Attestation by {latest.attested_by_label} on {when} expired "
            f"{latest.expires_at:%Y-%m-%d}; attest again{link}",
        ), latest
    return Outcome(
        Status.ATTESTED,
        f"Attested by {latest.attested_by_label} on {when}, until "
        f"{latest.expires_at:%Y-%m-%d}: {latest.evidence}{link}",
    ), latest


def evaluate_item(item: Item, ctx: Context) -> ItemResult:
    outcome: Outcome | None = None
    if item.check is not None:
        try:
            outcome = item.check(ctx)
        except Exception:
            # One broken check must not hide the others; the log has the trace.
            logger.exception("checklist item %s failed", item.id)
            outcome = Outcome(Status.UNKNOWN, "The check failed with an internal error (see logs)")
    attestation = None
    if outcome is None:
        outcome, attestation = attestation_outcome(item, ctx.now)
        if item.kind == Kind.AWS and outcome.status == Status.UNKNOWN:
            outcome = Outcome(
                Status.UNKNOWN, "Not configured for an automatic check. " + outcome.evidence
            )
    return ItemResult(item, outcome.status, outcome.evidence, ctx.now, attestation)


def evaluate(
    *,
    now: datetime | None = None,
    items: Sequence[Item] = ITEMS,
    session_for: SessionFactory | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[ItemResult]:
    """Every item, in checklist order; ``progress`` is told how many are done after each one
    (a queued run shows it, and it is the run's sign of life)."""
    ctx = Context(now=now or timezone.now(), session_for=session_for or default_session_for)
    results = []
    for item in items:
        results.append(evaluate_item(item, ctx))
        if progress is not None:
            progress(len(results))
    return results


def summary(results: Iterable[ItemResult]) -> dict[str, Any]:
    results = list(results)
    counts = Counter(str(r.status) for r in results)
    return {
        "total": len(results),
        **{status.value: counts.get(status.value, 0) for status in Status},
        "required_failing": [r.item.id for r in results if r.fails_gate],
    }


def report(
    results: Sequence[ItemResult], *, checked_at: datetime | None, run_id: int | None
) -> dict[str, Any]:
    """The checklist as the command (``--json``), the MCP tool and the admin show it."""
    totals = summary(results)
    return {
        "run_id": run_id,
        "checked_at": checked_at.isoformat() if checked_at else None,
        "ok": not totals["required_failing"],
        "summary": totals,
        "items": [r.as_dict() for r in results],
    }


def latest_run() -> ChecklistRun | None:
    """The latest finished run: one still queued or running has no results yet, and a failed
    one has none at all."""
    return (
        ChecklistRun.objects.filter(status=ChecklistRun.Status.FINISHED)
        .order_by("-checked_at", "-id")
        .first()
    )


def stored_results(run: ChecklistRun, *, now: datetime | None = None) -> list[ItemResult]:
    """The run's results; an attestation that expired since the run reads ``expired`` now."""
    now = now or timezone.now()
    results = []
    rows = ChecklistResult.objects.filter(run=run).select_related("attestation").order_by("id")
    for row in rows:
        item = ITEMS_BY_ID.get(row.item_id)
        if item is None:
            continue  # an item since retired
        status, evidence = Status(row.status), row.evidence
        if status == Status.ATTESTED and row.attestation and not row.attestation.is_current(now):
            status = Status.EXPIRED
            evidence = f"Attestation expired {row.attestation.expires_at:%Y-%m-%d}; attest again"
        results.append(ItemResult(item, status, evidence, row.checked_at, row.attestation))
    return results


def latest_report(*, now: datetime | None = None) -> dict[str, Any]:
    run = latest_run()
    if run is None:
        return {
            **report([], checked_at=None, run_id=None),
            "hint": "The checklist has not been run yet: run manage.py security_checklist.",
        }
    return report(stored_results(run, now=now), checked_at=run.checked_at, run_id=run.pk)
