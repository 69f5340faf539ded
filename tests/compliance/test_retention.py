"""Retention: old scans and audit events go in batches; the latest scans, scans current data
refers to, recent rows and every retained figure stay; the audit log still refuses any other
deletion."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from compliance import reads
from compliance.models import (
    AuditEvent,
    ComplianceSnapshot,
    Resource,
    RuleSnapshot,
    Scan,
    ScanItem,
    TagChange,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.scans import execute_scan
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError
from compliance.writes.retention import Batch, Cutoffs, PruneCounts, do_prune, prune_audit_events
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"
NOW = timezone.now()
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no DELETE trigger on the audit log (migration 0002 says why)",
)


def days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """Run code as if the clock said ``when`` (``auto_now_add`` reads ``timezone.now``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: when)
        yield


def audit_at(when: datetime, target: str) -> AuditEvent:
    with clock_at(when):
        return AuditEvent.objects.create(
            event_type="scan.requested", actor_label="cli", target=target
        )


def prune(**options: Any) -> PruneCounts:
    options.setdefault("scan_days", 400)
    options.setdefault("audit_days", 365)
    options.setdefault("batch_size", 5000)
    return do_prune(acting=Operator(), now=NOW, **options)


# --- Scans: real scans of a moto estate -----------------------------------------------------


class Queues:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        good = {"Owner": "ann@example.com", "Environment": "production"}
        self.keep = self.sqs.create_queue(QueueName="keep", tags=good)["QueueUrl"]
        self.gone = self.sqs.create_queue(QueueName="gone")["QueueUrl"]
        self.drifting = self.sqs.create_queue(QueueName="drifting", tags={"Owner": "x"})["QueueUrl"]


def scan_now() -> Scan:
    scan = do_request_scan(acting=Operator(), resource_types=["sqs:queue"])
    return execute_scan(scan.pk)


def finished_days_ago(scan: Scan, days: int) -> Scan:
    Scan.objects.filter(pk=scan.pk).update(finished_at=days_ago(days))
    return Scan.objects.get(pk=scan.pk)


@pytest.fixture
def four_scans(mocked_aws: None) -> list[Scan]:
    """Four scans, 600, 500 and 450 days old, and one of yesterday.

    The first saw a queue later deleted (a gone resource still refers to it); the second and
    third saw tag changes; so did the last.
    """
    do_add_account(account_id=ACCOUNT, name="prod", regions=["us-east-1"], acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    queues = Queues()
    first = scan_now()
    queues.sqs.delete_queue(QueueUrl=queues.gone)
    queues.sqs.tag_queue(QueueUrl=queues.drifting, Tags={"Environment": "staging"})
    second = scan_now()
    queues.sqs.tag_queue(QueueUrl=queues.drifting, Tags={"Owner": "bob@example.com"})
    third = scan_now()
    queues.sqs.untag_queue(QueueUrl=queues.drifting, TagKeys=["Environment"])
    latest = scan_now()
    return [
        finished_days_ago(first, 600),
        finished_days_ago(second, 500),
        finished_days_ago(third, 450),
        finished_days_ago(latest, 1),
    ]


def test_old_scans_go_with_their_rows_and_referenced_ones_stay(four_scans: list[Scan]) -> None:
    first, second, third, latest = four_scans
    gone = Resource.objects.get(arn__endswith=":gone")
    assert (gone.last_seen_scan_id, gone.is_gone) == (first.pk, True)
    assert TagChange.objects.filter(scan__in=[second, third]).count() == 2
    doomed_snapshots = ComplianceSnapshot.objects.filter(scan__in=[second, third]).count()
    doomed_rules = RuleSnapshot.objects.filter(scan__in=[second, third]).count()
    assert doomed_snapshots > 0
    assert doomed_rules > 0
    counts = prune()
    assert sorted(Scan.objects.values_list("id", flat=True)) == [first.pk, latest.pk]
    assert counts.as_dict() == {
        "scans": 2,
        "scan_items": 0,
        "tag_changes": 2,
        "snapshots": doomed_snapshots + doomed_rules,
        "audit_events": 0,
        "expired_cache_entries": 0,
    }
    assert not ComplianceSnapshot.objects.filter(scan_id__in=[second.pk, third.pk]).exists()
    assert not RuleSnapshot.objects.filter(scan_id__in=[second.pk, third.pk]).exists()
    assert RuleSnapshot.objects.filter(scan=latest).exists()
    assert ComplianceSnapshot.objects.filter(scan=first).exists()
    assert TagChange.objects.filter(scan=latest).count() == 1


def test_figures_of_retained_scans_are_unchanged(four_scans: list[Scan]) -> None:
    first, _second, _third, latest = four_scans
    viewer = Operator()
    summary = reads.compliance_summary(viewer)
    trend = reads.compliance_trend(viewer, granularity="day")
    tag_trend = reads.tag_key_trend(viewer, "Owner", granularity="day")
    drift = reads.tag_drift(viewer)
    assert [p.scan_id for p in trend] == [s.pk for s in four_scans]
    prune()
    assert reads.compliance_summary(viewer) == summary
    assert reads.compliance_trend(viewer, granularity="day") == [
        p for p in trend if p.scan_id in (first.pk, latest.pk)
    ]
    assert reads.tag_key_trend(viewer, "Owner", granularity="day") == [
        p for p in tag_trend if p.scan_id in (first.pk, latest.pk)
    ]
    after = reads.tag_drift(viewer)
    # What changed at the last scan is still what changed at the last scan.
    assert (after.to_scan_id, after.summary, after.resources) == (
        drift.to_scan_id,
        drift.summary,
        drift.resources,
    )
    assert drift.summary.changes == 1


def test_a_second_run_deletes_nothing_more(four_scans: list[Scan]) -> None:
    prune()
    assert prune().as_dict() == dict.fromkeys(
        (
            "scans",
            "scan_items",
            "tag_changes",
            "snapshots",
            "audit_events",
            "expired_cache_entries",
        ),
        0,
    )
    assert Scan.objects.count() == 2


def hand_made_scan(status: str, finished_days: int | None, created_days: int = 700) -> Scan:
    scan = Scan.objects.create(status=status)
    Scan.objects.filter(pk=scan.pk).update(
        created_at=days_ago(created_days),
        finished_at=None if finished_days is None else days_ago(finished_days),
    )
    return scan


def test_the_latest_complete_and_latest_finished_scans_stay_however_old(db: None) -> None:
    complete = hand_made_scan(Scan.Status.COMPLETE, 900)
    older_complete = hand_made_scan(Scan.Status.COMPLETE, 950)
    partial = hand_made_scan(Scan.Status.PARTIAL, 800)
    failed = hand_made_scan(Scan.Status.FAILED, 700)
    counts = prune()
    assert counts.kept_scans == sorted([complete.pk, partial.pk])
    assert sorted(Scan.objects.values_list("id", flat=True)) == sorted([complete.pk, partial.pk])
    assert not Scan.objects.filter(pk__in=[older_complete.pk, failed.pk]).exists()


def test_running_and_queued_scans_are_never_pruned(db: None) -> None:
    latest = hand_made_scan(Scan.Status.COMPLETE, 2)
    running = hand_made_scan(Scan.Status.RUNNING, None)
    queued = hand_made_scan(Scan.Status.QUEUED, None)
    assert prune().scans == 0
    assert set(Scan.objects.values_list("id", flat=True)) == {latest.pk, running.pk, queued.pk}


def test_a_scan_a_current_violation_refers_to_stays(four_scans: list[Scan]) -> None:
    first, second, _third, latest = four_scans
    violation = Violation.objects.first()
    assert violation is not None
    Violation.objects.filter(pk=violation.pk).update(scan=second)
    prune()
    assert sorted(Scan.objects.values_list("id", flat=True)) == [first.pk, second.pk, latest.pk]


def test_staging_rows_of_an_old_failed_scan_go_in_batches(db: None) -> None:
    hand_made_scan(Scan.Status.COMPLETE, 1)
    failed = hand_made_scan(Scan.Status.FAILED, 500)
    ScanItem.objects.bulk_create(
        ScanItem(scan=failed, arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:q{i}", account_id=ACCOUNT)
        for i in range(7)
    )
    batches: list[Batch] = []
    counts = prune(batch_size=3, on_batch=batches.append)
    assert [(b.table, b.deleted, b.total) for b in batches] == [
        ("scan_items", 3, 3),
        ("scan_items", 3, 6),
        ("scan_items", 1, 7),
        ("scans", 1, 1),
    ]
    assert (counts.scans, counts.scan_items) == (1, 7)
    assert not ScanItem.objects.exists()


def test_dry_run_counts_and_deletes_nothing(four_scans: list[Scan]) -> None:
    audit_at(days_ago(366), "old")
    before = (Scan.objects.count(), TagChange.objects.count(), AuditEvent.objects.count())
    counts = prune(dry_run=True)
    assert (counts.scans, counts.tag_changes, counts.audit_events) == (2, 2, 1)
    assert (Scan.objects.count(), TagChange.objects.count(), AuditEvent.objects.count()) == before


# --- Audit events --------------------------------------------------------------------------


@pytest.fixture
def events(db: None) -> dict[str, AuditEvent]:
    """Five events older than a year, one just inside it, one of today."""
    made = {f"old-{i}": audit_at(days_ago(400 + i), f"old-{i}") for i in range(5)}
    made["recent"] = audit_at(days_ago(364), "recent")
    made["today"] = audit_at(NOW, "today")
    return made


def targets() -> list[str]:
    return sorted(AuditEvent.objects.values_list("target", flat=True))


def test_old_audit_events_go_in_batches_and_recent_ones_stay(events: dict[str, Any]) -> None:
    batches: list[Batch] = []
    counts = prune(batch_size=2, on_batch=batches.append)
    assert [(b.table, b.deleted, b.total) for b in batches] == [
        ("audit_events", 2, 2),
        ("audit_events", 2, 4),
        ("audit_events", 1, 5),
    ]
    assert counts.audit_events == 5
    assert targets() == ["", "recent", "today"]  # "": the run's own event


def test_the_run_is_audited_once_and_that_row_survives_the_next_run(
    events: dict[str, Any],
) -> None:
    prune(audit_days=365, scan_days=400, batch_size=2)
    (event,) = AuditEvent.objects.filter(event_type="retention.pruned")
    assert (event.outcome, event.actor_label) == ("success", "cli")
    assert event.detail == {
        "scan_retention_days": 400,
        "audit_retention_days": 365,
        "scans_before": days_ago(400).isoformat(),
        "audit_before": days_ago(365).isoformat(),
        "batch_size": 2,
        "deleted": {
            "scans": 0,
            "scan_items": 0,
            "tag_changes": 0,
            "snapshots": 0,
            "audit_events": 5,
            "expired_cache_entries": 0,
        },
        "kept_scans": [],
    }
    prune(audit_days=1)
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert AuditEvent.objects.filter(event_type="retention.pruned").count() == 2


def test_the_orm_still_refuses_to_delete_audit_events(events: dict[str, Any]) -> None:
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(target="old-0").delete()
    with pytest.raises(PermissionError):
        events["old-1"].delete()
    assert len(targets()) == 7


@pytest.fixture
def cursor() -> Iterator[Any]:
    with connection.cursor() as made:
        yield made


@postgres_only
def test_a_raw_delete_of_a_recent_row_is_refused_even_while_pruning(
    events: dict[str, Any], cursor: Any
) -> None:
    recent = events["recent"].pk
    with transaction.atomic():
        cursor.execute(
            "SELECT set_config('finops.audit_prune', 'on', true), "
            "set_config('finops.audit_prune_before', %s, true)",
            [days_ago(365).isoformat()],
        )
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM compliance_auditevent WHERE id = %s", [recent])
    assert AuditEvent.objects.filter(pk=recent).exists()


@postgres_only
def test_a_raw_delete_of_an_old_row_is_refused_without_the_prune_setting(
    events: dict[str, Any], cursor: Any
) -> None:
    old = events["old-0"].pk
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        cursor.execute("DELETE FROM compliance_auditevent WHERE id = %s", [old])
    assert AuditEvent.objects.filter(pk=old).exists()


@postgres_only
def test_pruning_is_switched_off_again_after_each_batch(
    events: dict[str, Any], cursor: Any
) -> None:
    # Inside this test's transaction, as inside any caller's: the batch does not leave it on.
    assert prune_audit_events(days_ago(390), batch_size=10) == 5
    old = audit_at(days_ago(700), "older still").pk
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        cursor.execute("DELETE FROM compliance_auditevent WHERE id = %s", [old])
    assert AuditEvent.objects.filter(pk=old).exists()


def test_bad_retention_is_refused_and_audited(events: dict[str, Any]) -> None:
    with pytest.raises(ActionError, match="at least one day"):
        prune(audit_days=0)
    with pytest.raises(ActionError, match="batch_size: at least 1"):
        prune(batch_size=0)
    assert len(targets()) == 7 + 2
    assert list(
        AuditEvent.objects.filter(event_type="retention.pruned").values_list("outcome", flat=True)
    ) == ["denied", "denied"]


def test_cutoffs_are_counted_back_from_now() -> None:
    cutoffs = Cutoffs.from_days(NOW, scan_days=400, audit_days=365)
    assert (cutoffs.scans_before, cutoffs.audit_before) == (days_ago(400), days_ago(365))


# --- The command ---------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("prune", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_prints_progress_per_batch_and_reads_the_settings(
    events: dict[str, Any], settings: Any
) -> None:
    settings.RETENTION_AUDIT_DAYS = 365
    settings.RETENTION_BATCH_SIZE = 2
    out = run()
    assert out.splitlines()[:3] == [
        "  audit events: deleted 2 (2 so far)",
        "  audit events: deleted 2 (4 so far)",
        "  audit events: deleted 1 (5 so far)",
    ]
    assert "Deleted 0 scans, 0 scan items, 0 tag changes, 0 snapshots, 5 audit events" in out
    assert targets() == ["", "recent", "today"]


def test_command_dry_run_deletes_nothing(events: dict[str, Any], settings: Any) -> None:
    settings.RETENTION_AUDIT_DAYS = 30
    out = run("--dry-run")
    assert "Would delete 0 scans, 0 scan items, 0 tag changes, 0 snapshots, 6 audit events" in out
    assert len(targets()) == 7


def test_expired_entries_of_the_shared_cache_table_are_purged(db: None) -> None:
    """Without Redis the shared cache is a table, which Django purges only once full (and then
    by key order): prune keeps it to what has not expired."""
    from django.core.cache import caches
    from django.test import override_settings

    from compliance.writes.retention import purge_expired_cache_entries
    from mcp_endpoint.oauth.shared_state import cache_settings

    with override_settings(CACHES={"default": cache_settings("")}):
        cache = caches["default"]
        cache.set("code-of-a-minute", "a", timeout=60)
        cache.set("counter-of-an-hour", "b", timeout=3600)
        purged = purge_expired_cache_entries(timezone.now() + timedelta(minutes=30))
        assert (purged, cache.get("code-of-a-minute"), cache.get("counter-of-an-hour")) == (
            1,
            None,
            "b",
        )
