"""Making a collected scan the current state, in one transaction, and what a scan covers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from compliance.aws import GLOBAL_TYPES
from compliance.aws.base import GLOBAL_REGION
from compliance.models import AwsAccount, Resource, Scan
from compliance.reads import compliance_counts as figures
from compliance.scans import merge, merge_postgres
from compliance.scans.merge import Judge
from compliance.scans.snapshots import take_snapshots
from compliance.stored import costs as stored_costs
from compliance.stored.summary import store_figures
from compliance.writes.scan_events import record_scan_failed, record_scan_finished


class ScanNotRunnable(RuntimeError):
    """The scan was already claimed by another worker or is finished."""


def accounts_for(scan: Scan) -> list[AwsAccount]:
    accounts = AwsAccount.objects.filter(enabled=True)
    if scan.account_ids:
        accounts = AwsAccount.objects.filter(account_id__in=scan.account_ids)
    return list(accounts.order_by("account_id"))


def describe_failure(outcome: dict[str, Any]) -> str:
    where = outcome["account_id"]
    if outcome["region"] != "*":
        where += f" {outcome['region']}"
    if outcome["resource_type"] != "*":
        where += f" {outcome['resource_type']}"
    return f"{where}: {outcome['error_code']} {outcome['error_message']}".strip()


@dataclass(frozen=True, slots=True)
class _Scope:
    """What a scan looked at successfully: only there may resources be marked gone."""

    scan: Scan
    regional: frozenset[tuple[str, str, str]]  # (account_id, region, type) collected fine
    global_: frozenset[tuple[str, str]]  # (account_id, type) for global types collected fine

    def gone_filters(self) -> Iterator[Q]:
        for account_id, region, resource_type in sorted(self.regional):
            yield Q(account__account_id=account_id, region=region, resource_type=resource_type)
        for account_id, resource_type in sorted(self.global_):
            q = Q(account__account_id=account_id, resource_type=resource_type)
            if self.scan.regions:
                q &= Q(region__in=scanned_regions(self.scan))
            yield q


def _scope(scan: Scan) -> _Scope:
    regional, global_ = set(), set()
    for outcome in scan.outcomes:
        if outcome["status"] != "ok":
            continue
        if outcome["resource_type"] in GLOBAL_TYPES:
            global_.add((outcome["account_id"], outcome["resource_type"]))
        else:
            regional.add((outcome["account_id"], outcome["region"], outcome["resource_type"]))
    return _Scope(scan=scan, regional=frozenset(regional), global_=frozenset(global_))


def finalise(scan: Scan) -> None:
    """Make a collected scan the current state, in one transaction."""
    failures = [o for o in scan.outcomes if o["status"] != "ok"]
    if len(failures) == len(scan.outcomes):  # nothing succeeded (or nothing to do)
        errors = [describe_failure(o) for o in failures] or ["nothing to scan"]
        with transaction.atomic():
            Scan.objects.filter(pk=scan.pk).update(
                status=Scan.Status.FAILED, finished_at=timezone.now(), errors=errors
            )
            record_scan_failed(scan, {"errors": errors[:50]})
        scan.refresh_from_db()
        return

    if scan.policy is None:  # do_request_scan always sets it; a hand-made row might not
        raise ScanNotRunnable(f"scan #{scan.pk} has no tagging policy")
    now = timezone.now()
    accounts = {a.account_id: a for a in accounts_for(scan)}
    # The same steps either way; PostgreSQL does the heavy ones as set-based SQL.
    if connection.vendor == "postgresql":
        merge_items, rejudge_unseen = merge_postgres.merge_items, merge_postgres.rejudge_unseen
        merge_postgres.analyse_staging()
    else:
        merge_items, rejudge_unseen = merge.merge_items, merge.rejudge_unseen
    with transaction.atomic():
        # Serialise finalisations touching the same accounts (PostgreSQL row locks; SQLite
        # already allows one writer at a time).
        list(
            AwsAccount.objects.select_for_update().filter(pk__in=[a.pk for a in accounts.values()])
        )
        judge = Judge(scan, scan.policy, now)
        merge_items(scan, judge, accounts, now)
        _mark_gone(_scope(scan), now)
        rejudge_unseen(judge, accounts)
        stored_costs.refresh_costs(now)  # before the snapshots, which read the money
        take_snapshots(scan, judge.policy, now)
        # The summary's figures (compliance.reads.summary.compliance_summary reads them).
        store_figures(scan, now)
        totals = figures.count_resources_total(
            Resource.objects.filter(scan_scope_filter(scan)), now=now
        )
        scan.status = Scan.Status.PARTIAL if failures else Scan.Status.COMPLETE
        scan.finished_at = now
        scan.errors = [describe_failure(o) for o in failures]
        # The scan's own figures, with the exemptions active when it was finalised applied.
        scan.total_resources = totals.total_resources
        scan.in_scope_resources = totals.in_scope_resources
        scan.compliant_resources = totals.compliant_resources
        scan.violation_count = totals.violations
        scan.save()
        # After the scan is the latest finished one, which the stored figures are marked with.
        from compliance.stored.showback import refresh_showback  # it reads the scans

        refresh_showback()
        record_scan_finished(scan, failed_jobs=len(failures))


def _mark_gone(scope: _Scope, now: datetime) -> None:
    for q in scope.gone_filters():
        Resource.objects.filter(q, gone_since__isnull=True).exclude(
            last_seen_scan=scope.scan
        ).update(gone_since=now)


def scan_scope_filter(scan: Scan) -> Q:
    """The present resources a scan covered: its accounts, regions and types filters."""
    q = Q(gone_since__isnull=True)
    if scan.account_ids:
        q &= Q(account__account_id__in=scan.account_ids)
    else:
        q &= Q(account__enabled=True)
    if scan.regions:
        q &= Q(region__in=scanned_regions(scan))
    if scan.resource_types:
        q &= Q(resource_type__in=scan.resource_types)
    return q


def scanned_regions(scan: Scan) -> list[str]:
    """The regions a scan naming regions covers: those, and ``global`` (IAM, CloudFront and
    Route 53 resources, which the scan lists whatever regions it names)."""
    return [*scan.regions, GLOBAL_REGION]
