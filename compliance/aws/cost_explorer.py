"""Monthly costs from Cost Explorer (``GetCostAndUsage``), for when no bill export is loaded.

Per linked account, two kinds of figures, each grouped by region as well:

- cost by ``SERVICE``: what the per-resource estimate splits over the inventory;
- cost by each required tag key (``GroupBy: TAG``): Cost Explorer answers ``Owner$alice`` for
  the value ``alice`` and ``Owner$`` for resources without the key, which is the exact untagged
  spend for that key (once the key is activated as a cost allocation tag).

The metric is ``AmortizedCost``: the same amortised view the bill import uses (a resource under
a Savings Plan or a Reserved Instance costs what the commitment makes it cost), so figures from
either source mean the same thing. Cost Explorer is a global API served from us-east-1, and
each request is billed by AWS (USD 0.01), so one fetch asks for all months at once and follows
``NextPageToken`` until the last page.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from compliance.aws.session import client

#: What ``fetch_costs`` needs (for the IAM policy).
COST_EXPLORER_IAM_ACTIONS = ("ce:GetCostAndUsage",)
METRIC = "AmortizedCost"
#: Cost Explorer's only endpoint in the aws partition.
CE_REGION = "us-east-1"
SERVICE = "service"
TAG = "tag"


class CostExplorerError(Exception):
    """Cost Explorer refused or failed a request; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CostFigure:
    period_start: date
    period_end: date
    account_id: str
    region: str
    dimension: str  # SERVICE or TAG
    tag_key: str
    key: str  # service name or tag value ("" when the tag key is absent)
    amount: Decimal
    currency: str


def fetch_cost_figures(
    account_ids: Sequence[str],
    tag_keys: Sequence[str],
    start: date,
    end: date,
    *,
    session: boto3.session.Session | None = None,
) -> list[CostFigure]:
    """Every monthly figure from ``start`` (inclusive) to ``end`` (exclusive).

    Needs the credentials of the organisation's management (payer) account, which sees every
    linked account's costs; a stand-alone account sees its own.
    """
    ce = client(session or boto3.session.Session(), "ce", CE_REGION)
    figures: list[CostFigure] = []
    for account_id in account_ids:
        groupings: list[tuple[str, str, dict[str, str]]] = [
            (SERVICE, "", {"Type": "DIMENSION", "Key": "SERVICE"})
        ]
        groupings += [(TAG, key, {"Type": "TAG", "Key": key}) for key in tag_keys]
        for dimension, tag_key, group in groupings:
            request = {
                "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                "Granularity": "MONTHLY",
                "Metrics": [METRIC],
                "Filter": {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account_id]}},
                "GroupBy": [group, {"Type": "DIMENSION", "Key": "REGION"}],
            }
            try:
                for result in _pages(ce, request):
                    figures += _figures(result, account_id, dimension, tag_key)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise CostExplorerError(
                    f"Cost Explorer, account {account_id}: {error.get('Code', 'error')} "
                    f"{error.get('Message', '')}".rstrip()
                ) from None
            except BotoCoreError as exc:
                raise CostExplorerError(f"Cost Explorer, account {account_id}: {exc}") from None
    return figures


def _pages(ce: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each ``ResultsByTime`` entry of every page (GetCostAndUsage has no boto3 paginator)."""
    token: str | None = None
    while True:
        page = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        yield from page.get("ResultsByTime", [])
        token = page.get("NextPageToken")
        if not token:
            return


def _figures(
    result: dict[str, Any], account_id: str, dimension: str, tag_key: str
) -> Iterator[CostFigure]:
    period = result["TimePeriod"]
    start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    for group in result.get("Groups", []):
        value, region = [*group["Keys"], "", ""][:2]
        if dimension == TAG:
            # "Owner$alice" -> "alice"; "Owner$" -> "" (no Owner tag).
            value = value.partition("$")[2]
        metric = group["Metrics"][METRIC]
        yield CostFigure(
            period_start=start,
            period_end=end,
            account_id=account_id,
            region="" if region in ("NoRegion", "global") else region,
            dimension=dimension,
            tag_key=tag_key,
            key=value,
            # Cost Explorer sends amounts as decimal strings: kept exact, never a float.
            amount=Decimal(metric["Amount"]),
            currency=metric.get("Unit", "USD"),
        )
