"""An account's latest money, and what the stored figures hold for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max

from compliance.models import BillingImport, Exemption

BILL_FORMATS = tuple(BillingImport.Format.values)
ESTIMATE = "estimate"
#: What the stored rows mean, written with each account's money: rows stored under another
#: meaning (before ``untagged`` rows told an absent key from a bad value: none) do not answer,
#: and the figures are computed until the next refresh stores them again.
ROWS_FORMAT = 2


@dataclass(frozen=True, slots=True)
class AccountMoney:
    """An account's latest money: its latest billing period (with the format of the newest
    import then) and its latest Cost Explorer period."""

    bill_period: datetime | None = None
    bill_format: str = ""
    estimate_period: datetime | None = None

    @property
    def shown(self) -> tuple[str, datetime] | None:
        """What this account alone shows: (``bill`` or ``estimate``, period), or ``None``."""
        if self.estimate_period is not None and (
            self.bill_period is None or self.estimate_period > self.bill_period
        ):
            return (ESTIMATE, self.estimate_period)
        if self.bill_period is not None:
            return ("bill", self.bill_period)
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "bill": [self.bill_period.isoformat(), self.bill_format] if self.bill_period else None,
            "estimate": self.estimate_period.isoformat() if self.estimate_period else None,
            "rows": ROWS_FORMAT,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountMoney:
        bill, estimate = data.get("bill"), data.get("estimate")
        return cls(
            bill_period=datetime.fromisoformat(bill[0]) if bill else None,
            bill_format=bill[1] if bill else "",
            estimate_period=datetime.fromisoformat(estimate) if estimate else None,
        )


def active_exemptions(now: datetime) -> tuple[int, int]:
    """How many exemptions are active at ``now``, and the newest one's id."""
    active = Exemption.objects.active(now).aggregate(n=Count("id"), last=Max("id"))
    return active["n"], active["last"] or 0
