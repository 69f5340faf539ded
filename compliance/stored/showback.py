"""Showback's sums, computed once per change and stored.

Showback matches every bill line of a period to the inventory, then sums per tag value; on a
large estate that is seconds of work per question. The inputs change only when a bill is
imported, a scan finalised, a policy imported or an allocation rule changed, so
:func:`refresh_showback` runs then, in the same transaction, for the keys the policy governs
and the keys that have rules, and stores the sums (``ShowbackFigure``) with the marks of
what they were computed from (``ShowbackState``). :func:`compliance.reads.showback.spend_by_tag`
reads them while those marks hold, and computes as before otherwise (another key, a region or
service filter, marks moved by a write that did not refresh).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db import transaction
from django.utils import timezone

from compliance.models import (
    AllocationRule,
    BillingImport,
    CostLine,
    SharedCostRule,
    ShowbackFigure,
    ShowbackState,
)
from compliance.reads.policy import active_policy, read_policy
from compliance.reads.showback import (
    CELL_FIELDS,
    SPEND,
    StoredCells,
    showback_cells,
    showback_fingerprint,
)

#: Rows per INSERT.
BATCH = 5000


def stored_keys() -> list[str]:
    """The keys whose showback is stored: every key of the active policy, and every key that
    has an allocation or shared-cost rule."""
    keys: set[str] = set()
    row = active_policy()
    if row is not None:
        current = read_policy(row)
        keys |= {rule.name for rule in (*current.required_tags, *current.optional_tags)}
    keys |= set(AllocationRule.objects.values_list("tag_key", flat=True))
    keys |= set(SharedCostRule.objects.values_list("tag_key", flat=True))
    return sorted(keys)


def refresh_showback(keys: Iterable[str] | None = None) -> None:
    """Recompute and store showback's sums for ``keys`` (default: :func:`stored_keys`); a key
    with a value per resource is left to be computed when asked
    (:data:`compliance.reads.showback.MAX_STORED_VALUES`)."""
    with transaction.atomic():
        # One refresh at a time: a second waits here, then computes from what the first left
        # (two at once would each delete before the other inserted, and both sets would stay).
        state = _locked_state()
        wanted = sorted(set(keys)) if keys is not None else stored_keys()
        # The marks are read before the inputs: a change committed while the sums are being
        # computed moves the marks past these, so the sums are never taken for its figures.
        fingerprint = showback_fingerprint()
        ShowbackFigure.objects.all().delete()
        cross_account: set[tuple[str, str]] = set()
        stored = showback_cells(wanted)
        for key, cells in stored.items():
            cross_account |= {(start.isoformat(), fmt) for start, fmt in cells.cross_account}
            ShowbackFigure.objects.bulk_create(_figures(key, cells), batch_size=BATCH)
        state.computed_at = timezone.now()
        state.fingerprint = fingerprint
        state.tag_keys = sorted(stored)
        state.cross_account = sorted([list(pair) for pair in cross_account])
        state.imports = _imports()
        state.save()


def _locked_state() -> ShowbackState:
    """The state row, locked until the caller's transaction ends (created the first time)."""
    ShowbackState.objects.get_or_create(
        pk=1, defaults={"computed_at": timezone.now(), "fingerprint": {"never": True}}
    )
    return ShowbackState.objects.select_for_update().get(pk=1)


def _figures(key: str, cells: StoredCells) -> Iterator[ShowbackFigure]:
    for (start, source_format), sums in cells.spend.items():
        for fields, amount in sums.items():
            yield ShowbackFigure(
                period_start=start,
                source_format=source_format,
                tag_key=key,
                measure=SPEND,
                amount=amount,
                **dict(zip(CELL_FIELDS, fields, strict=True)),
            )
    for (start, source_format, measure), counts in cells.counts.items():
        for (account_id, resource_type, kind, value), count in counts.items():
            yield ShowbackFigure(
                period_start=start,
                source_format=source_format,
                tag_key=key,
                measure=measure,
                account_id=account_id,
                resource_type=resource_type,
                kind=kind,
                value=value,
                count=count,
            )


def _imports() -> list[list[str | int]]:
    """[period, bill account, import id, imported at, format, currency] of every import
    holding lines, one entry per period, account and import."""
    entries = (
        CostLine.objects.order_by()
        .values_list("billing_period_start", "account_id", "billing_import_id")
        .distinct()
    )
    imports = {
        row.pk: row
        for row in BillingImport.objects.filter(pk__in=CostLine.objects.values("billing_import_id"))
    }
    return sorted(
        [
            start.isoformat(),
            account_id,
            import_id,
            imports[import_id].imported_at.isoformat(),
            imports[import_id].source_format,
            imports[import_id].currency,
        ]
        for start, account_id, import_id in entries
    )
