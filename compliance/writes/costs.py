"""Loading money: a FOCUS or CUR 2.0 bill, or Cost Explorer's monthly figures. Each replaces what
an earlier load stored for the same period and accounts, and refreshes the stored costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.aws import billing_source, cost_explorer
from compliance.core import billing, costs
from compliance.models import (
    AwsAccount,
    BilledResource,
    BillingImport,
    CostExplorerFigure,
    CostLine,
    TaggingPolicy,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Viewer,
    viewer_label,
)
from compliance.stored import costs as stored_costs
from compliance.stored.showback import refresh_showback
from compliance.writes.refusals import refuse, require

#: Cost Explorer months one fetch may ask for.
MAX_FETCH_MONTHS = 12


@contextmanager
def _downloaded_bill(uri: str) -> Iterator[Path]:
    """An ``s3://`` bill as a local file (``compliance.aws`` is the only code reaching AWS)."""
    try:
        with billing_source.downloaded(uri) as path:
            yield path
    except billing_source.BillSourceError as exc:
        raise billing.BillError(str(exc)) from None


class ImportedBill(list[BillingImport]):
    """The ``BillingImport`` of each period, and the rows the provider filter left out."""

    def __init__(self, imports: list[BillingImport], left_out: dict[str, int]) -> None:
        super().__init__(imports)
        #: Rows of other providers than AWS not imported, by provider name.
        self.left_out = left_out


def do_import_costs(
    source: str,
    *,
    fmt: str | None = None,
    provider_filter: str | None = None,
    acting: Viewer,
    on_progress: billing.reader.ProgressCallback | None = None,
) -> ImportedBill:
    """Import a FOCUS or CUR 2.0 bill: one ``BillingImport`` per billing period in the file.

    The whole file is read and checked before anything is written, then every period is stored
    in one transaction, so a malformed bill changes nothing. A period replaces the cost lines
    that an earlier import of the same format stored for the same period and accounts: importing
    a bill twice never counts its money twice.

    A FOCUS file with rows of other providers than AWS is refused, naming them, unless
    ``provider_filter="aws"`` imports its AWS rows alone (the rows left out are audited).
    """
    require(acting, Action.IMPORT_COSTS, target=source[:2048])
    try:
        bill = billing.read_bill(
            source,
            fmt,
            on_progress=on_progress,
            fetch_remote=_downloaded_bill,
            provider_filter=provider_filter,
        )
    except billing.BillError as exc:
        raise refuse(EventType.COSTS_REJECTED, str(exc), acting=acting, target=source) from None
    with transaction.atomic():
        stored = [_store_billing_period(bill, period, acting) for period in bill.periods]
        # Each resource's cost and the attribution, stored for the pages that show them.
        stored_costs.refresh_costs()
        refresh_showback()
        audit.record(
            EventType.COSTS_IMPORTED,
            acting=acting,
            target=source,
            detail={
                "format": bill.format,
                "currency": bill.currency,
                "rows": bill.row_count,
                "provider_filter": provider_filter,
                "rows_left_out": bill.left_out,
                "carries_tags": bill.carries_tags,
                "periods": [
                    {
                        "start": imported.billing_period_start.isoformat(),
                        "end": imported.billing_period_end.isoformat(),
                        "accounts": imported.account_ids,
                        "rows": imported.row_count,
                        "lines": imported.line_count,
                        "replaced_lines": replaced,
                        "effective_total": str(imported.effective_total),
                        "billed_total": str(imported.billed_total),
                        "by_category": imported.totals_by_category,
                    }
                    for imported, replaced in stored
                ],
            },
        )
    return ImportedBill([imported for imported, _ in stored], bill.left_out)


def _store_billing_period(
    bill: billing.Bill, period: billing.BillPeriod, acting: Viewer
) -> tuple[BillingImport, int]:
    """Replace the stored lines of this format, period and accounts with the bill's, and the
    resources it bills with their tags (judged by the refresh that follows)."""
    accounts = period.account_ids
    BilledResource.objects.filter(
        source_format=bill.format, billing_period_start=period.start, account_id__in=accounts
    ).delete()
    previous = CostLine.objects.filter(
        source_format=bill.format, billing_period_start=period.start, account_id__in=accounts
    )
    touched = set(previous.values_list("billing_import_id", flat=True))
    replaced = previous.count()
    previous.delete()
    # An import none of whose lines are left has been replaced as a whole.
    BillingImport.objects.filter(pk__in=touched).exclude(
        pk__in=CostLine.objects.filter(billing_import_id__in=touched).values("billing_import_id")
    ).update(status=BillingImport.Status.REPLACED)
    imported = BillingImport.objects.create(
        source=bill.source[:2048],
        source_format=bill.format,
        billing_period_start=period.start,
        billing_period_end=period.end,
        account_ids=accounts,
        row_count=period.row_count,
        line_count=len(period.lines),
        currency=bill.currency,
        effective_total=period.effective_total,
        billed_total=period.billed_total,
        totals_by_category={k: str(v) for k, v in period.totals_by_category().items()},
        imported_by=viewer_label(acting),
    )
    CostLine.objects.bulk_create(
        (
            CostLine(
                billing_import=imported,
                source_format=bill.format,
                billing_period_start=period.start,
                account_id=line.account_id,
                region=line.region,
                service=line.service,
                resource_id=line.resource_id,
                charge_category=line.charge_category,
                effective_cost=line.effective_cost,
                billed_cost=line.billed_cost,
                row_count=line.row_count,
            )
            for line in period.lines
        ),
        batch_size=2000,
    )
    BilledResource.objects.bulk_create(
        (
            BilledResource(
                billing_import=imported,
                source_format=bill.format,
                billing_period_start=period.start,
                account_id=billed.account_id,
                region=billed.region,
                service=billed.service,
                resource_id=billed.resource_id,
                resource_type=costs.billed_resource_type(billed.resource_id),
                tags=billed.tags,
                effective_cost=billed.effective_cost,
            )
            for billed in period.billed_resources()
        ),
        batch_size=2000,
    )
    return imported, replaced


def do_fetch_costs(
    months: int = 3, *, acting: Viewer, today: date | None = None
) -> list[CostExplorerFigure]:
    """Pull the last ``months`` complete calendar months from Cost Explorer, for every enabled
    account: cost by service and region, and by each required tag key of the active policy.

    Each fetched (month, account) replaces the figures stored for it before. Nothing is written
    unless every request succeeded; a failure is audited and changes nothing.
    """
    require(acting, Action.IMPORT_COSTS, target="cost-explorer")
    if not 1 <= months <= MAX_FETCH_MONTHS:
        raise refuse(
            EventType.COSTS_FETCHED,
            f"months: between 1 and {MAX_FETCH_MONTHS}, not {months}",
            acting=acting,
        )
    end = (today or timezone.now().date()).replace(day=1)
    start = end
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    accounts = sorted(AwsAccount.objects.filter(enabled=True).values_list("account_id", flat=True))
    active = TaggingPolicy.objects.filter(is_active=True).first()
    tag_keys = [rule["name"] for rule in active.document.get("required_tags", [])] if active else []
    target = f"{start:%Y-%m} to {end:%Y-%m} (exclusive)"
    try:
        fetched = cost_explorer.fetch_cost_figures(accounts, tag_keys, start, end)
    except cost_explorer.CostExplorerError as exc:
        raise refuse(
            EventType.COSTS_FETCHED,
            str(exc),
            acting=acting,
            target=target,
        ) from None
    with transaction.atomic():
        starts = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in _months(start, end)]
        replaced, _ = CostExplorerFigure.objects.filter(
            period_start__in=starts, account_id__in=accounts
        ).delete()
        stored = CostExplorerFigure.objects.bulk_create(
            CostExplorerFigure(
                period_start=datetime(f.period_start.year, f.period_start.month, 1, tzinfo=UTC),
                period_end=datetime(
                    f.period_end.year, f.period_end.month, f.period_end.day, tzinfo=UTC
                ),
                account_id=f.account_id,
                region=f.region,
                dimension=f.dimension,
                tag_key=f.tag_key,
                key=f.key,
                amount=f.amount,
                currency=f.currency,
            )
            for f in fetched
        )
        stored_costs.refresh_costs()
        refresh_showback()
        audit.record(
            EventType.COSTS_FETCHED,
            acting=acting,
            target=target,
            detail={
                "accounts": accounts,
                "tag_keys": tag_keys,
                "metric": cost_explorer.METRIC,
                "figures": len(stored),
                "replaced_figures": replaced,
                "service_total": str(
                    sum((f.amount for f in fetched if f.dimension == "service"), Decimal(0))
                ),
            },
        )
    return stored


def _months(start: date, end: date) -> list[date]:
    firsts = []
    while start < end:
        firsts.append(start)
        start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return firsts
