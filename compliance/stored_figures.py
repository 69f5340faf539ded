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

from django.db.models import Case, CharField, Count, Exists, F, Max, OuterRef, Sum, When

from compliance.figures import Figures
from compliance.models import AwsAccount, ComplianceSnapshot, Exemption, Resource, Scan, Violation

Dimension = ComplianceSnapshot.Dimension


def store_figures(scan: Scan, now: datetime) -> None:
    """Store the violations per account and kind, exempted ones apart, as of ``now``.

    Called by the finalisation in its transaction, after the resources and violations are
    current, with the instant it finalises at (exemptions active then are applied, as in every
    other snapshot row). Replaces what an earlier call stored for the same scan.
    """
    present = Violation.objects.filter(resource__gone_since__isnull=True)
    counted: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for column, violations in ((0, present.active(now)), (1, present.exempted(now))):
        for account_id, violation_type, n in (
            violations.values_list("resource__account__account_id", "violation_type")
            .annotate(n=Count("id"))
            .order_by()
        ):
            counted[(account_id, violation_type)][column] += n
            counted[(account_id, "")][column] += n

    exemptions = Exemption.objects.active(now).count()
    last_exemption = Exemption.objects.aggregate(last=Max("id"))["last"] or 0
    # Every account with present resources gets its totals row, violations or not: those rows
    # also say that the figures were stored, and under which exemptions.
    with_resources = AwsAccount.objects.filter(
        Exists(Resource.objects.filter(account=OuterRef("pk"), gone_since__isnull=True))
    ).values_list("account_id", flat=True)
    for account_id in with_resources:
        counted.setdefault((account_id, ""), [0, 0])

    ComplianceSnapshot.objects.filter(scan=scan, dimension=Dimension.VIOLATION_TYPE).delete()
    ComplianceSnapshot.objects.bulk_create(
        ComplianceSnapshot(
            scan=scan,
            taken_at=now,
            account_id=account_id,
            dimension=Dimension.VIOLATION_TYPE,
            key=violation_type,
            total_resources=0,
            in_scope=0,
            compliant=0,
            violations=violations,
            exempted=exempted,
            exemptions_active=exemptions if not violation_type else None,
            last_exemption_id=last_exemption if not violation_type else None,
        )
        for (account_id, violation_type), (violations, exempted) in sorted(counted.items())
    )


def stored_at(scan: Scan, now: datetime) -> datetime | None:
    """When the figures of ``scan`` were stored, if they still hold at ``now``; else ``None``.

    They hold when the exemptions active at ``now`` are exactly those active then: none has
    been created since (no active one is newer than the newest then), and none has expired or
    been removed (as many are active as then). Exemptions are never edited, only created and
    removed. A ``now`` before the figures were stored is answered live.
    """
    stored = (
        ComplianceSnapshot.objects.filter(scan=scan, dimension=Dimension.VIOLATION_TYPE, key="")
        .values("taken_at", "exemptions_active", "last_exemption_id")
        .first()
    )
    if stored is None or now < stored["taken_at"]:
        return None
    active = Exemption.objects.active(now).aggregate(n=Count("id"), last=Max("id"))
    if active["n"] != stored["exemptions_active"]:
        return None
    if (active["last"] or 0) > (stored["last_exemption_id"] or 0):
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
