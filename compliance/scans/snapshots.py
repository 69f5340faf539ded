"""Snapshots: the whole current estate aggregated per account, kept with each finished scan."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal

from django.db.models import Count

from compliance.core import policy
from compliance.models import AwsAccount, ComplianceSnapshot, Resource, Scan, Violation
from compliance.permissions.accounts import Operator
from compliance.reads import compliance_counts as figures
from compliance.reads.money import cost_attribution

BATCH = 2000


def take_snapshots(scan: Scan, active_policy: policy.Policy, now: datetime) -> None:
    """Aggregate the whole current estate, per account, for trends filtered by permission.

    Exemptions active at ``now`` are applied, so a snapshot keeps the figures as they were shown
    when it was taken, even after those exemptions expire.
    """
    present = Resource.objects.filter(gone_since__isnull=True)
    rows: list[ComplianceSnapshot] = []
    dimensions = [
        (ComplianceSnapshot.Dimension.ACCOUNT, None),
        (ComplianceSnapshot.Dimension.REGION, "region"),
        (ComplianceSnapshot.Dimension.RESOURCE_TYPE, "resource_type"),
    ]
    type_counts: Counter[tuple[str, str]] = Counter()
    account_rows: dict[str, ComplianceSnapshot] = {}
    for dimension, field in dimensions:
        group = ["account__account_id"] + ([field] if field else [])
        for (account_id, *rest), counted in figures.count_resources(
            present, group, now=now
        ).items():
            key = rest[0] if rest else ""
            rows.append(
                ComplianceSnapshot(
                    scan=scan,
                    taken_at=now,
                    account_id=account_id,
                    dimension=dimension,
                    key=key,
                    total_resources=counted.total_resources,
                    in_scope=counted.in_scope_resources,
                    compliant=counted.compliant_resources,
                    violations=counted.violations,
                )
            )
            if dimension == ComplianceSnapshot.Dimension.ACCOUNT:
                account_rows[account_id] = rows[-1]
            if dimension == ComplianceSnapshot.Dimension.RESOURCE_TYPE:
                type_counts[(account_id, key)] = counted.total_resources

    # Per required tag: resources it applies to, and how many of those get it wrong.
    violating = {
        (row["resource__account__account_id"], row["tag_name"]): (row["resources"], row["n"])
        for row in Violation.objects.filter(resource__gone_since__isnull=True)
        .active(now)
        .values("resource__account__account_id", "tag_name")
        .annotate(resources=Count("resource_id", distinct=True), n=Count("id"))
        .order_by()
    }
    applies: Counter[tuple[str, str]] = Counter()
    for (account_id, resource_type), total in type_counts.items():
        for rule in policy.rules_for_type(active_policy, resource_type):
            applies[(account_id, rule.name)] += total
    for account_id, tag_name in sorted(applies.keys() | violating.keys()):
        bad_resources, n = violating.get((account_id, tag_name), (0, 0))
        in_scope = applies.get((account_id, tag_name), 0)
        rows.append(
            ComplianceSnapshot(
                scan=scan,
                taken_at=now,
                account_id=account_id,
                dimension=ComplianceSnapshot.Dimension.TAG_KEY,
                key=tag_name[:128],
                total_resources=in_scope,
                in_scope=in_scope,
                compliant=max(in_scope - bad_resources, 0),
                violations=n,
            )
        )
    rows.extend(_snapshot_money(scan, account_rows, now))
    ComplianceSnapshot.objects.bulk_create(rows, batch_size=BATCH)


def _snapshot_money(
    scan: Scan, account_rows: dict[str, ComplianceSnapshot], now: datetime
) -> list[ComplianceSnapshot]:
    """Fill the ``account`` rows with each account's money in the latest billing period.

    One attribution of the whole estate (``cost_attribution``, so the figures are the
    ones every other view shows), split by account: an account the bill does not name gets
    zeros, a registered account with costs but no present resource gets an account row of its
    own (zero counts). Returns those extra rows. Nothing is filled when no costs are loaded.
    Accounts the inventory does not register (and charges of no account) are left out: history
    is read per registered account.
    """

    attribution = cost_attribution(Operator())
    if attribution.cost_source is None or attribution.period_start is None:
        return []
    extra: list[ComplianceSnapshot] = []
    registered = set(
        AwsAccount.objects.filter(account_id__in=attribution.by_account.keys()).values_list(
            "account_id", flat=True
        )
    )
    for account_id in sorted(registered - account_rows.keys()):
        row = ComplianceSnapshot(
            scan=scan,
            taken_at=now,
            account_id=account_id,
            dimension=ComplianceSnapshot.Dimension.ACCOUNT,
            key="",
            total_resources=0,
            in_scope=0,
            compliant=0,
            violations=0,
        )
        account_rows[account_id] = row
        extra.append(row)
    for account_id, row in account_rows.items():
        split = attribution.by_account.get(account_id)
        row.billing_period_start = attribution.period_start.date()
        row.cost_source = attribution.cost_source
        row.total_spend = split.total if split else Decimal(0)
        row.attributable_spend = split.attributable if split else Decimal(0)
        row.attribution_gap = split.attribution_gap if split else Decimal(0)
        row.unattributable_spend = split.unattributable if split else Decimal(0)
        row.unmatched_resource_spend = split.unmatched_resource if split else Decimal(0)
    return extra
