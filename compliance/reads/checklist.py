"""The security checklist as the dashboard shows it: the latest run's items by section, the
attestations behind them, the progress of a run not finished yet, and the recent runs' totals.

The latest run is read with :func:`compliance.checklist.evaluation.stored_results`, as the MCP
tool ``get_security_checklist`` reads it, so an attestation that expired since the run reads
``expired`` on both. The checklist holds no account data; who may read it is the caller's
check (the admin role).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from compliance.checklist.base import Section
from compliance.checklist.evaluation import ItemResult, latest_run, stored_results, summary
from compliance.checklist.items import ITEMS
from compliance.models import Attestation, ChecklistResult, ChecklistRun, ChecklistStatus

#: Runs in the history table.
RECENT_RUNS = 10


@dataclass(frozen=True, slots=True)
class SectionResults:
    section: str
    results: list[ItemResult]


@dataclass(frozen=True, slots=True)
class RunTotals:
    run: ChecklistRun
    #: Status -> items, every status present (zero when none), in ``ChecklistStatus`` order.
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ChecklistView:
    run: ChecklistRun | None
    sections: list[SectionResults]
    summary: dict[str, object]


def latest_checklist(*, now: datetime | None = None) -> ChecklistView:
    run = latest_run()
    if run is None:
        return ChecklistView(None, [], summary([]))
    results = stored_results(run, now=now)
    by_section: dict[str, list[ItemResult]] = {str(s): [] for s in Section}
    for result in results:
        by_section.setdefault(str(result.item.section), []).append(result)
    sections = [SectionResults(name, items) for name, items in by_section.items() if items]
    return ChecklistView(run, sections, summary(results))


@dataclass(frozen=True, slots=True)
class RunProgress:
    """The newest run while it is not finished: queued, running (how many items are done), or
    failed (and why). A finished run shows as the latest results instead."""

    run: ChecklistRun

    @property
    def active(self) -> bool:
        """Still to end: the page follows it."""
        return self.run.status in (ChecklistRun.Status.QUEUED, ChecklistRun.Status.RUNNING)


def run_progress() -> RunProgress | None:
    newest = ChecklistRun.objects.order_by("-id").first()
    if newest is None or newest.status == ChecklistRun.Status.FINISHED:
        return None
    return RunProgress(newest)


def recent_runs(limit: int = RECENT_RUNS) -> list[RunTotals]:
    """The newest runs first, with how many items had each status as the run recorded it."""
    runs = list(ChecklistRun.objects.order_by("-checked_at", "-id")[:limit])
    counts: dict[int, dict[str, int]] = {
        run.pk: dict.fromkeys(ChecklistStatus.values, 0) for run in runs
    }
    for row in (
        ChecklistResult.objects.filter(run__in=[run.pk for run in runs])
        .values("run_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["run_id"]][row["status"]] = row["n"]
    return [RunTotals(run, counts[run.pk]) for run in runs]


@dataclass(frozen=True, slots=True)
class AttestationState:
    item_id: str
    title: str
    attestation: Attestation | None
    #: The attestation still holds now.
    current: bool


def attestation_states(*, now: datetime | None = None) -> list[AttestationState]:
    """Every item a person can vouch for, with its latest attestation (if any), in checklist
    order."""
    now = now or timezone.now()
    attestable = [item for item in ITEMS if item.attestable]
    newest = (
        Attestation.objects.filter(item_id=OuterRef("item_id"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    latest = {
        attestation.item_id: attestation
        for attestation in Attestation.objects.filter(
            item_id__in=[item.id for item in attestable], pk=Subquery(newest)
        )
    }
    return [
        AttestationState(
            item_id=item.id,
            title=item.title,
            attestation=latest.get(item.id),
            current=item.id in latest and latest[item.id].is_current(now),
        )
        for item in attestable
    ]
