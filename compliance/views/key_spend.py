"""The two spend figures per required tag key, as every page shows them.

``untagged_spend`` and ``noncompliant_spend`` are easy to confuse, so the pages label them with
their definition (``compliance.core.costs``) rather than a bare name, and build their rows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse

from compliance.reads import CostAttribution
from compliance.web.charts import format_money

UNTAGGED_LABEL = "Untagged spend — the key is absent"
NONCOMPLIANT_LABEL = "Non-compliant spend — the key is absent or its value violates the policy"


@dataclass(frozen=True, slots=True)
class KeySpend:
    """One required tag key's two figures, exact and as shown, with its violations' page."""

    key: str
    untagged: Decimal
    noncompliant: Decimal
    untagged_text: str
    noncompliant_text: str
    url: str


def key_spend_rows(attribution: CostAttribution) -> list[KeySpend]:
    """Every required key of the attribution, highest non-compliant spend first (then by key):
    the larger figure ranks, since it is the whole of what the key leaves unattributed."""
    url = reverse("compliance:violations")
    keys = attribution.untagged_spend.keys() | attribution.noncompliant_spend.keys()
    rows = [
        KeySpend(
            key=key,
            untagged=(untagged := attribution.untagged_spend.get(key, Decimal(0))),
            noncompliant=(noncompliant := attribution.noncompliant_spend.get(key, Decimal(0))),
            untagged_text=format_money(untagged),
            noncompliant_text=format_money(noncompliant),
            url=f"{url}?{urlencode({'tag': key})}",
        )
        for key in keys
    ]
    return sorted(rows, key=lambda row: (-row.noncompliant, -row.untagged, row.key))
