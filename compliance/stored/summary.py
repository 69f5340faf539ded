"""The compliance summary as stored when a scan is finalised, so reading it costs no aggregate
over the estate.

Resources and violations change only at finalisation, so the figures counted then stay right
until something the count depended on changes: the exemptions (applied when figures are read,
so one created, removed or expired since changes them) or the accounts (one deleted and
registered again under the same id has lost its resources). :func:`stored_at` says whether
the stored figures still hold; when they do not, the reader counts live rows as before.

The per-account ``account``, ``region``, ``resource_type`` and ``tag_key`` snapshot rows the
finalisation writes for trends already hold the totals, the breakdowns and the violations per
tag. :func:`store_figures` adds what the summary needs besides: the violations per kind, the
exempted ones, and which exemptions were active (see ``ComplianceSnapshot``). The figures of a
viewer are the sums of the rows of the accounts they may see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Sum, When

from compliance.models import (
    AwsAccount,
    ComplianceSnapshot,
    Resource,
    RuleSnapshot,
    Scan,
    Violation,
)
from compliance.reads.compliance_counts import Figures
from compliance.stored.costs.latest_money import active_exemptions

Dimension = ComplianceSnapshot.Dimension


def store_figures(scan: Scan, now: datetime) -> None:
    """Store the violations per account, rule and kind, exempted ones apart, as of ``now``.

    Called by the finalisation in its transaction, after the resources and violations are
    current, with the instant it finalises at (exemptions active then are applied, as in every
    other snapshot row), and again when exemptions change. Replaces what an earlier call stored
    for the same scan.
    """
    rules = store_rule_figures(scan, now)
    exemptions, last_exemption = active_exemptions(now)

    ComplianceSnapshot.objects.filter(scan=scan, dimension=Dimension.VIOLATION_TYPE).delete()
    # The kinds' rows are the rule rows over every tag.
    ComplianceSnapshot.objects.bulk_create(
        ComplianceSnapshot(
            scan=scan,
            taken_at=now,
            account_id=rule.account_id,
            dimension=Dimension.VIOLATION_TYPE,
            key=rule.violation_type,
            total_resources=0,
            in_scope=0,
            compliant=0,
            violations=rule.violations,
            exempted=rule.exempted,
            exemptions_active=exemptions if not rule.violation_type else None,
            last_exemption_id=last_exemption if not rule.violation_type else None,
        )
        for rule in rules
        if not rule.tag_name
    )


#: The groupings a rule row is counted at: both of (tag, kind), either, or neither.
_RULE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("tag_name", "violation_type"),
    ("tag_name",),
    ("violation_type",),
    (),
)


def store_rule_figures(scan: Scan, now: datetime) -> list[RuleSnapshot]:
    """Store, as of ``now``, the violations and affected resources per account of every rule,
    of every tag and of every kind, and the exempted violations of each (``RuleSnapshot``);
    replaces what was stored for ``scan`` before. Returns the rows."""
    rows = _rule_rows(scan, now)
    RuleSnapshot.objects.filter(scan=scan).delete()
    RuleSnapshot.objects.bulk_create(rows, batch_size=1000)
    return rows


def _rule_rows(scan: Scan, now: datetime) -> list[RuleSnapshot]:
    present = Violation.objects.filter(resource__gone_since__isnull=True)
    exemptions, last_exemption = active_exemptions(now)

    def new_row(account_id: str, tag: str = "", kind: str = "") -> RuleSnapshot:
        return RuleSnapshot(
            scan=scan,
            taken_at=now,
            exemptions_active=exemptions,
            last_exemption_id=last_exemption,
            account_id=account_id,
            tag_name=tag,
            violation_type=kind,
        )

    # Every account with present resources gets its totals rows, violations or not: those rows
    # also say that the figures were stored, and under which exemptions.
    with_resources = AwsAccount.objects.filter(
        Exists(Resource.objects.filter(account=OuterRef("pk"), gone_since__isnull=True))
    ).values_list("account_id", flat=True)
    rows = {(account_id, "", ""): new_row(account_id) for account_id in with_resources}

    def row(account_id: str, tag: str, kind: str) -> RuleSnapshot:
        key = (account_id, tag, kind)
        if key not in rows:
            rows[key] = new_row(account_id, tag, kind)
        return rows[key]

    for group in _RULE_GROUPS:
        # A resource counts once per row: distinct within an account, and no resource is in two.
        for account_id, *keys, n, resources in (
            present.active(now)
            .values_list("resource__account__account_id", *group)
            .annotate(n=Count("id"), resources=Count("resource_id", distinct=True))
            .order_by()
        ):
            named = dict(zip(group, keys, strict=True))
            counted = row(account_id, named.get("tag_name", ""), named.get("violation_type", ""))
            counted.violations, counted.resources = n, resources
    for account_id, tag, kind, n in (
        present.exempted(now)
        .values_list("resource__account__account_id", "tag_name", "violation_type")
        .annotate(n=Count("id"))
        .order_by()
    ):
        for tag_key, kind_key in {(tag, kind), (tag, ""), ("", kind), ("", "")}:
            row(account_id, tag_key, kind_key).exempted += n
    return [rows[key] for key in sorted(rows)]


def stored_at(scan: Scan, now: datetime) -> datetime | None:
    """When the figures of ``scan`` were stored, if they still hold at ``now``; else ``None``.

    They hold when the exemptions active at ``now`` are exactly those active then: none has
    been created since (no active one is newer than the newest active then), and none has
    expired or been removed (as many are active as then). Exemptions are never edited, only
    created and removed. A ``now`` before the figures were stored is answered live.
    """
    stored = (
        ComplianceSnapshot.objects.filter(scan=scan, dimension=Dimension.VIOLATION_TYPE, key="")
        .values("taken_at", "exemptions_active", "last_exemption_id")
        .first()
    )
    if stored is None or now < stored["taken_at"]:
        return None
    active, last = active_exemptions(now)
    if active != stored["exemptions_active"] or last > (stored["last_exemption_id"] or 0):
        return None
    taken_at: datetime = stored["taken_at"]
    return taken_at


def rules_stored_at(scan: Scan, now: datetime) -> datetime | None:
    """When the rule figures of ``scan`` were stored, if they still hold at ``now`` (as
    :func:`stored_at` says of the summary's); else ``None``, also for a scan without them."""
    stored = (
        RuleSnapshot.objects.filter(scan=scan)
        .values("taken_at", "exemptions_active", "last_exemption_id")
        .first()
    )
    if stored is None or now < stored["taken_at"]:
        return None
    if active_exemptions(now) != (stored["exemptions_active"], stored["last_exemption_id"]):
        return None
    taken_at: datetime = stored["taken_at"]
    return taken_at


@dataclass(frozen=True, slots=True)
class StoredSummary:
    """The stored figures summed over some accounts; breakdowns ordered by key as the database
    orders them, like the live ones."""

    totals: Figures
    by_account: list[tuple[str, Figures]]
    by_region: list[tuple[str, Figures]]
    by_type: list[tuple[str, Figures]]
    by_violation_type: dict[str, int]
    by_tag: dict[str, int]
    exempted: int


def stored_summary(scan: Scan, account_ids: Sequence[str]) -> StoredSummary:
    """The stored figures of ``scan`` summed over ``account_ids``, in one query.

    Breakdowns list only keys with resources and counts only kinds and tags with violations,
    as the live counts (grouped from the rows that exist) do.
    """
    grouped_by = Case(
        When(dimension=Dimension.ACCOUNT, then=F("account_id")),
        default=F("key"),
        output_field=CharField(),
    )
    rows = (
        ComplianceSnapshot.objects.filter(scan=scan, account_id__in=account_ids)
        .annotate(grouped_by=grouped_by)
        .values("dimension", "grouped_by")
        .annotate(
            total=Sum("total_resources"),
            in_scope_n=Sum("in_scope"),
            compliant_n=Sum("compliant"),
            violations_n=Sum("violations"),
            exempted_n=Sum("exempted"),
        )
        .order_by("dimension", "grouped_by")
    )
    totals = [0, 0, 0, 0]
    breakdowns: dict[str, list[tuple[str, Figures]]] = defaultdict(list)
    by_violation_type: dict[str, int] = {}
    by_tag: dict[str, int] = {}
    exempted = 0
    for row in rows:
        dimension, key = row["dimension"], row["grouped_by"]
        figures = Figures(
            total_resources=int(row["total"]),
            in_scope_resources=int(row["in_scope_n"]),
            compliant_resources=int(row["compliant_n"]),
            violations=int(row["violations_n"]),
        )
        if dimension == Dimension.ACCOUNT:
            totals = [
                totals[0] + figures.total_resources,
                totals[1] + figures.in_scope_resources,
                totals[2] + figures.compliant_resources,
                totals[3] + figures.violations,
            ]
        if dimension in (Dimension.ACCOUNT, Dimension.REGION, Dimension.RESOURCE_TYPE):
            # An account row may exist for its money alone, with no resource.
            if figures.total_resources:
                breakdowns[dimension].append((key, figures))
        elif dimension == Dimension.TAG_KEY:
            if figures.violations:
                by_tag[key] = figures.violations
        elif dimension == Dimension.VIOLATION_TYPE:
            if not key:
                exempted = int(row["exempted_n"])
            elif figures.violations:
                by_violation_type[key] = figures.violations
    return StoredSummary(
        totals=Figures(*totals),
        by_account=breakdowns[Dimension.ACCOUNT],
        by_region=breakdowns[Dimension.REGION],
        by_type=breakdowns[Dimension.RESOURCE_TYPE],
        by_violation_type=by_violation_type,
        by_tag=by_tag,
        exempted=exempted,
    )
