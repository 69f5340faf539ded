"""Where scans stand, as one viewer may see them: the history, one scan's outcomes, freshness.

The one reader of scans for every face (the dashboard's history and scan pages, ``list_scans``
over MCP). A viewer who sees every account sees every scan as it is. Anyone else sees only the
scans that read one of their accounts (a scan of every account reads theirs too), and of those
only what belongs to their accounts: outcomes, failures, resource counts and the regions their
jobs ran in. Who requested a scan is shown to them only when it was themselves; the scan's
estate-wide totals never.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from compliance.aws import RESOURCE_TYPES
from compliance.models import Scan
from compliance.permissions.accounts import (
    Viewer,
    once_per_answer,
    sees_all_accounts,
    viewer_label,
    visible_account_ids,
)
from compliance.scans import describe_failure

#: Scans per page of the history.
SCANS_PER_PAGE = 25
#: Rows of one scan's outcome table; the failures are always listed in full besides.
MAX_OUTCOME_ROWS = 500
#: A last finished scan older than this is called out as stale on the overview.
STALE_AFTER = timedelta(hours=24)
#: Scan errors that start with an account id name that account; others ("scan stopped: ...",
#: "nothing to scan") are about the scan as a whole.
_ACCOUNT_ERROR = re.compile(r"^\d{12}\b")
_ANY_ACCOUNT = re.compile(r"(?<!\d)\d{12}(?!\d)")


def _visible_outcomes(scan: Scan, visible: frozenset[str]) -> list[dict[str, Any]]:
    return [outcome for outcome in scan.outcomes if outcome.get("account_id") in visible]


def _reads_any_of(account_ids: list[str], visible: frozenset[str]) -> bool:
    return bool(visible) and (not account_ids or not visible.isdisjoint(account_ids))


#: Scans read at a time while walking the history newest first.
_SCAN_BATCH = 100


def _visible_scan_ids(viewer: Viewer) -> Iterator[int]:
    """The ids of the scans ``viewer`` may see, newest first, read a batch at a time only as
    far as the caller goes.

    Filtered here, not in SQL: which accounts a scan named is a JSON list, and a portable query
    cannot ask whether two JSON lists share a member.
    """
    everything = sees_all_accounts(viewer)
    visible = frozenset() if everything else visible_account_ids(viewer)
    pairs = Scan.objects.order_by("-id").values_list("id", "account_ids")
    for start in itertools.count(0, _SCAN_BATCH):
        batch = list(pairs[start : start + _SCAN_BATCH])
        for pk, account_ids in batch:
            if everything or _reads_any_of(list(account_ids or []), visible):
                yield pk
        if len(batch) < _SCAN_BATCH:
            return


def newest_visible_scan(viewer: Viewer) -> Scan | None:
    """The newest scan ``viewer`` may see."""
    pk = next(_visible_scan_ids(viewer), None)
    return None if pk is None else Scan.objects.filter(pk=pk).first()


def visible_scan(viewer: Viewer, pk: int) -> Scan | None:
    """The scan if ``viewer`` may see it; ``None`` as for an id that does not exist."""
    scan = Scan.objects.select_related("policy").filter(pk=pk).first()
    if scan is None or sees_all_accounts(viewer):
        return scan
    return (
        scan if _reads_any_of(list(scan.account_ids or []), visible_account_ids(viewer)) else None
    )


def requested_by(scan: Scan, viewer: Viewer) -> str:
    """The requester's name for those who see every account or who requested it themselves;
    others learn only that someone else did."""
    if not scan.requested_by or sees_all_accounts(viewer):
        return scan.requested_by
    return scan.requested_by if scan.requested_by == viewer_label(viewer) else "another user"


def regions_read(scan: Scan, viewer: Viewer) -> list[str]:
    """The scan's regions, or for a narrower viewer the regions its jobs read in their
    accounts (a region list names where other teams run)."""
    if sees_all_accounts(viewer):
        return list(scan.regions)
    visible = visible_account_ids(viewer)
    return sorted({str(o.get("region", "")) for o in _visible_outcomes(scan, visible)} - {""})


def what_failed(scan: Scan, viewer: Viewer) -> list[str]:
    """What the scan could not read in the viewer's accounts, in words (as every MCP answer
    says it), then why it stopped, if it did: those errors name no account."""
    failed: list[str] = list((scan_block(scan, viewer) or {}).get("failed", []))
    general = [str(error) for error in scan.errors if not _ACCOUNT_ERROR.match(str(error))]
    if not sees_all_accounts(viewer):
        # "scan stopped: ... running 123456789012 eu-west-1" names an account mid-sentence.
        visible = visible_account_ids(viewer)
        general = [
            _ANY_ACCOUNT.sub(lambda m: m[0] if m[0] in visible else "another account", error)
            for error in general
        ]
    return failed + general


def duration(scan: Scan, now: datetime | None = None) -> timedelta | None:
    """How long the scan ran, or has been running; ``None`` before it started."""
    if scan.started_at is None:
        return None
    end = scan.finished_at or (now or timezone.now())
    return max(end - scan.started_at, timedelta(0))


def format_duration(span: timedelta | None) -> str:
    """``2 h 5 min``, ``3 min 20 s``, ``12 s``; an empty string for no duration."""
    if span is None:
        return ""
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One line of the scan history, counted over the viewer's accounts."""

    scan: Scan
    duration: str
    resources_read: int
    failed_jobs: int
    requested_by: str


@dataclass(frozen=True, slots=True)
class ScanPage:
    rows: list[ScanRow]
    page: int
    has_next: bool


class BadPage(ValueError):
    """A page number that is not a whole number from 1 up; the message says so."""


def parse_page(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        raise BadPage(f"page: a whole number from 1 up, not {raw[:40]!r}")
    return int(raw)


def scan_page(viewer: Viewer, page: int = 1, *, now: datetime | None = None) -> ScanPage:
    """One page of the history, newest first; the page after the last is empty."""
    now = now or timezone.now()
    visible = visible_account_ids(viewer)
    scans, has_next = scan_history(viewer, (page - 1) * SCANS_PER_PAGE, SCANS_PER_PAGE)
    rows = []
    for scan in scans:
        outcomes = _visible_outcomes(scan, visible)
        rows.append(
            ScanRow(
                scan=scan,
                duration=format_duration(duration(scan, now)),
                resources_read=sum(int(o.get("resource_count") or 0) for o in outcomes),
                failed_jobs=sum(1 for o in outcomes if o["status"] != "ok"),
                requested_by=requested_by(scan, viewer),
            )
        )
    return ScanPage(rows=rows, page=page, has_next=has_next)


def scan_history(viewer: Viewer, offset: int, limit: int) -> tuple[list[Scan], bool]:
    """``limit`` of the viewer's scans from ``offset``, newest first, and whether more follow."""
    ids = list(itertools.islice(_visible_scan_ids(viewer), offset, offset + limit + 1))
    found = Scan.objects.in_bulk(ids[:limit])
    return [found[pk] for pk in ids[:limit] if pk in found], len(ids) > limit


@dataclass(frozen=True, slots=True)
class Outcome:
    """One account x region x resource type job of a scan."""

    account_id: str
    region: str
    resource_type: str
    status: str
    resource_count: int
    error_code: str
    error_message: str
    duration_ms: int | None

    @property
    def failed(self) -> bool:
        return self.status != "ok"


@dataclass(frozen=True, slots=True)
class ScanDetail:
    scan: Scan
    duration: str
    #: The scan's named accounts that the viewer sees (empty with ``every_account``).
    accounts: list[str]
    every_account: bool
    failed: list[str]
    failures: list[Outcome]
    outcomes: list[Outcome]
    outcome_count: int
    resources_read: int
    requested_by: str
    regions: list[str]
    #: Requests the jobs in the viewer's accounts sent to AWS, and how many AWS throttled.
    aws_requests: int
    throttled_requests: int
    #: Which resource types it listed, in words.
    types: str


def _outcome(raw: dict[str, Any]) -> Outcome:
    duration_ms = raw.get("duration_ms")
    return Outcome(
        account_id=str(raw.get("account_id", "")),
        region=str(raw.get("region", "")),
        resource_type=str(raw.get("resource_type", "")),
        status=str(raw.get("status", "")),
        resource_count=int(raw.get("resource_count") or 0),
        error_code=str(raw.get("error_code") or ""),
        error_message=str(raw.get("error_message") or ""),
        duration_ms=int(duration_ms) if duration_ms is not None else None,
    )


def scan_detail(scan: Scan, viewer: Viewer, *, now: datetime | None = None) -> ScanDetail:
    """A scan as the viewer may see it: the outcomes of their accounts only, failures first."""
    visible = visible_account_ids(viewer)
    visible_raw = _visible_outcomes(scan, visible)
    outcomes = sorted(
        (_outcome(raw) for raw in visible_raw),
        key=lambda o: (not o.failed, o.account_id, o.region, o.resource_type),
    )
    return ScanDetail(
        scan=scan,
        duration=format_duration(duration(scan, now)),
        accounts=sorted(set(scan.account_ids) & visible),
        every_account=not scan.account_ids,
        failed=what_failed(scan, viewer),
        failures=[o for o in outcomes if o.failed],
        outcomes=outcomes[:MAX_OUTCOME_ROWS],
        outcome_count=len(outcomes),
        resources_read=sum(o.resource_count for o in outcomes),
        requested_by=requested_by(scan, viewer),
        regions=regions_read(scan, viewer),
        aws_requests=sum(int(raw.get("requests") or 0) for raw in visible_raw),
        throttled_requests=sum(int(raw.get("throttled") or 0) for raw in visible_raw),
        types=types_listed(scan.resource_types),
    )


def types_listed(types: list[str]) -> str:
    """A scan's resource types in words: "every type", the few it named, or every type but
    the few it left out (a scan of 71 types out of 74 reads best by the three it did not list)."""
    named = sorted(set(types))
    if not named or set(named) >= set(RESOURCE_TYPES):
        return "every type"
    left_out = sorted(set(RESOURCE_TYPES) - set(named))
    if len(left_out) < len(named):
        return "every type but " + ", ".join(left_out)
    return ", ".join(named)


def progress(scan: Scan) -> dict[str, Any]:
    """What the scan page polls: the scan's state, no account data."""
    return {
        "id": scan.pk,
        "status": scan.status,
        "progress_done": scan.progress_done,
        "progress_total": scan.progress_total,
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        "data_quality": scan.data_quality,
    }


@dataclass(frozen=True, slots=True)
class Freshness:
    """The scan every figure comes from, how old it is, and a newer one on its way or failed."""

    scan: Scan | None
    age: timedelta | None
    stale: bool
    failed: list[str]
    #: The newest scan, when it is not ``scan`` (queued, running or failed since).
    newer: Scan | None


def freshness(viewer: Viewer, *, now: datetime | None = None) -> Freshness:
    now = now or timezone.now()
    scan = latest_scan()
    newest = newest_visible_scan(viewer)
    newer = newest if newest is not None and (scan is None or newest.pk > scan.pk) else None
    if scan is None or scan.finished_at is None:
        return Freshness(scan=scan, age=None, stale=False, failed=[], newer=newer)
    age = max(now - scan.finished_at, timedelta(0))
    return Freshness(
        scan=scan,
        age=age,
        stale=age > STALE_AFTER,
        failed=what_failed(scan, viewer),
        newer=newer,
    )


def latest_scan() -> Scan | None:
    """The last finished (complete or partial) scan: what every answer is based on."""
    finished = Scan.objects.filter(status__in=Scan.FINISHED)
    return once_per_answer("latest scan", finished.order_by("-finished_at", "-id").first)


def scan_block(scan: Scan | None, viewer: Viewer) -> dict[str, Any] | None:
    """Which scan an answer comes from, how fresh, and what it could not read.

    Failures are listed only for accounts the viewer may see.
    """
    if scan is None:
        return None
    visible = visible_account_ids(viewer)
    failed = [
        describe_failure(outcome)
        for outcome in scan.outcomes
        if outcome["status"] != "ok" and outcome["account_id"] in visible
    ]
    return {
        "id": scan.pk,
        "finished_at": scan.finished_at.isoformat() if scan.finished_at else None,
        "data_quality": scan.data_quality,
        "failed": failed,
    }
