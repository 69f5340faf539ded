"""Which billing periods have money loaded for the viewer: from a bill, or from Cost Explorer.

The costs page offers these to choose from. A period counts only when it has figures for the
viewer's accounts, read through the same permission-filtered querysets as
:func:`cost_attribution`, so the list never reveals that another account was billed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from compliance.models import BillingImport
from compliance.permissions.accounts import Viewer
from compliance.reads.money import visible_cost_lines, visible_estimates


def loaded_periods(viewer: Viewer, account_ids: Sequence[str] = ()) -> list[date]:
    """First days of the periods with figures for the viewer (and ``account_ids``), newest
    first."""
    # Imports are few (one per file and period); the lines are many, so each candidate period
    # is checked with one indexed EXISTS instead of a DISTINCT over every line.
    lines = visible_cost_lines(viewer, account_ids)
    starts = {
        start
        for start in BillingImport.objects.filter(status=BillingImport.Status.ACTIVE)
        .values_list("billing_period_start", flat=True)
        .distinct()
        if lines.filter(billing_period_start=start).exists()
    }
    starts |= set(
        visible_estimates(viewer, account_ids)
        .order_by()
        .values_list("period_start", flat=True)
        .distinct()
    )
    return sorted({start.date() for start in starts}, reverse=True)
