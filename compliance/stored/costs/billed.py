"""Resources the bill charges and the inventory does not hold, judged from their bill tags.

The judgement is stored on each ``BilledResource`` at every refresh of the stored costs (an
import, a fetch, a finalisation, a change of exemptions), with the policy version it used; a
reader finding the active policy newer judges those rows again as it reads them, so a policy
import shows at once. Exemptions are not applied: they name inventory resources.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

from compliance.core import costs
from compliance.core import policy as policy_engine
from compliance.models import AwsAccount, BilledResource, TaggingPolicy
from compliance.stored.costs.matching import CHUNK, matched_billed
from compliance.stored.costs.reading import Scope

#: The costliest violating bill-judged resources an answer lists.
LISTED = 20


def _active() -> tuple[policy_engine.Policy | None, int | None]:
    row = TaggingPolicy.objects.filter(is_active=True).first()
    if row is None:
        return None, None
    return policy_engine.policy_from_dict(row.document), row.version


def verdict(
    policy: policy_engine.Policy | None, resource_type: str, tags: Mapping[str, str]
) -> tuple[bool | None, list[dict[str, str]]]:
    """``is_compliant`` (``None``: no required tag applies) and the violations, as a scan
    judges an inventory resource of that type with those tags."""
    if policy is None:
        return None, []
    compliant, findings = policy_engine.judge(policy, resource_type, tags)
    return compliant, [
        {"tag_key": f.tag_name, "violation_type": f.violation_type} for f in findings
    ]


def judge_billed_resources() -> None:
    """Judge every billed resource again: whether the inventory holds it (matched as bill lines
    are), and if not, against the active policy from its bill tags. Page by page, in id order."""
    policy, version = _active()
    registered = sorted(AwsAccount.objects.values_list("account_id", flat=True))
    after = 0
    while page := matched_billed(registered, after, CHUNK):
        after = page[-1][0]
        held = dict(page)
        changed = []
        for row in BilledResource.objects.filter(pk__in=held).only(
            "pk", "resource_type", "tags", "in_inventory", "is_compliant", "violations"
        ):
            in_inventory = held[row.pk]
            compliant, violations = (
                (None, []) if in_inventory else verdict(policy, row.resource_type, row.tags)
            )
            row.in_inventory, row.is_compliant = in_inventory, compliant
            row.violations, row.policy_version = violations, version
            changed.append(row)
        BilledResource.objects.bulk_update(
            changed, ["in_inventory", "is_compliant", "violations", "policy_version"]
        )


@dataclass(frozen=True, slots=True)
class BillJudgedResource:
    resource_id: str
    account_id: str
    resource_type: str
    spend: Decimal
    violations: list[dict[str, str]]


def _rows(scope: Scope, period: datetime, source_format: str, regions: Sequence[str]) -> Any:
    rows = BilledResource.objects.filter(billing_period_start=period, source_format=source_format)
    if not scope.everything:
        rows = rows.filter(account_id__in=scope.accounts)
    if regions:
        rows = rows.filter(region__in=regions)
    return rows


def _judged(
    rows: Any, policy: policy_engine.Policy | None, version: int | None
) -> Iterator[tuple[BilledResource, bool | None, list[dict[str, str]]]]:
    for row in rows.filter(in_inventory=False).order_by("pk").iterator(chunk_size=CHUNK):
        if row.policy_version == version:
            yield row, row.is_compliant, row.violations
        else:
            yield row, *verdict(policy, row.resource_type, row.tags)


def bill_judgement(
    scope: Scope,
    period: datetime | None,
    source_format: str | None,
    *,
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    required_tags: Collection[str] = (),
) -> tuple[costs.BillJudged, list[BillJudgedResource]]:
    """The bill-judged figures of one bill (period and format) over ``scope``, and its
    ``LISTED`` costliest violating resources (highest spend, then resource id).

    A resource-type filter keeps charges on inventory resources only, so nothing is judged
    from the bill under one (as ``unmatched_resource_spend`` is then zero).
    """
    judged = costs.BillJudged.for_keys(required_tags)
    if period is None or source_format is None:
        return judged, []
    rows = _rows(scope, period, source_format, regions)
    judged.bill_has_tags = rows.exists()
    keys: set[str] = set()
    for tags in rows.values_list("tags", flat=True).iterator(chunk_size=CHUNK):
        keys.update(tags)
    judged.keys_on_bill = sorted(keys)
    if resource_types:
        return judged, []
    policy, version = _active()
    listed: list[BillJudgedResource] = []
    with localcontext() as context:
        context.prec = 60
        for row, compliant, violations in _judged(rows, policy, version):
            if compliant is None:
                continue
            judged.add(
                row.effective_cost, ((v["tag_key"], v["violation_type"]) for v in violations)
            )
            if violations:
                listed.append(
                    BillJudgedResource(
                        resource_id=row.resource_id,
                        account_id=row.account_id,
                        resource_type=row.resource_type,
                        spend=row.effective_cost,
                        violations=violations,
                    )
                )
                listed.sort(key=lambda r: (-r.spend, r.resource_id))
                del listed[LISTED:]
    return judged, listed
