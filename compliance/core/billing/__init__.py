"""Billing data: FOCUS and AWS CUR 2.0 exports, read and summed for cost attribution."""

from __future__ import annotations

from compliance.core.billing.columns import CUR, FOCUS, FORMATS, PROVIDER_FILTERS, BillError
from compliance.core.billing.reader import Bill, BilledResource, BillLine, BillPeriod, read_bill

__all__ = [
    "CUR",
    "FOCUS",
    "FORMATS",
    "PROVIDER_FILTERS",
    "Bill",
    "BillError",
    "BillLine",
    "BillPeriod",
    "BilledResource",
    "read_bill",
]
