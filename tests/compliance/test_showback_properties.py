"""Showback puts every charge of the period in exactly one place, for every generated estate,
bill and tagging, on SQLite and on PostgreSQL: the values' rows and the four buckets add up to
the attribution's total exactly, and each row is the sum of the resources it lists.

The estates and bills are those of ``test_figure_properties`` (crowded: colliding bare ids,
gone resources, other and unregistered accounts, lines naming no resource); each present
resource carries the key with a valid value, an invalid one, a blank one, in another letter
case, or not at all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import reads
from compliance.models import AllocationRule, Resource, SharedCostRule
from compliance.permissions.accounts import Operator
from compliance.reads.showback import INVALID, UNTAGGED
from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule
from tests.compliance.test_figure_properties import (
    CROWDED,
    REQUIRED,
    Billed,
    billed_estates,
    properties,
    rolled_back,
    store_bill,
    store_inventory,
)

pytestmark = pytest.mark.django_db

KEY = "Team"
ALLOWED = ["red", "blue"]
DOCUMENT = {
    "required_tags": [
        *({"name": name} for name in REQUIRED),
        {"name": KEY, "allowed_values": ALLOWED},
    ]
}
#: What a resource carries for the key: a valid value, an invalid one, a blank one, the key in
#: another letter case (untagged), or nothing.
TAGGINGS = [
    {KEY: "red"},
    {KEY: "blue"},
    {KEY: "green"},
    {KEY: " "},
    {KEY.lower(): "red"},
    {},
]


@properties
@given(billed=billed_estates() | st.just(CROWDED), data=st.data())
def test_rows_and_buckets_add_up_to_the_total(billed: Billed, data: st.DataObject) -> None:
    estate, lines = billed
    with rolled_back():
        _scan, stored = store_inventory(DOCUMENT, estate)
        for arn in sorted(stored):
            Resource.objects.filter(arn=arn).update(tags=data.draw(st.sampled_from(TAGGINGS)))
        store_bill(lines)
        viewer = Operator()

        showback = reads.spend_by_tag(viewer, KEY)

        parts = (
            sum((row.spend for row in showback.rows), Decimal(0))
            + showback.untagged_spend
            + showback.invalid_spend
            + showback.unattributable_spend
            + showback.unmatched_resource_spend
        )
        assert parts == showback.total_spend == reads.cost_attribution(viewer).total_spend
        assert all(row.valid and row.value in ALLOWED for row in showback.rows)
        assert [row.spend for row in showback.rows] == sorted(
            (row.spend for row in showback.rows), reverse=True
        )
        for row in showback.rows:
            listed = reads.resources_with_tag_value(viewer, KEY, row.value)
            assert (len(listed), sum((r.spend for r in listed), Decimal(0))) == (
                row.resource_count,
                row.spend,
            )
        for bucket, spend, count in (
            (UNTAGGED, showback.untagged_spend, showback.untagged_count),
            (INVALID, showback.invalid_spend, showback.invalid_count),
        ):
            listed = reads.resources_with_tag_value(viewer, KEY, None, bucket=bucket)
            assert (len(listed), sum((r.spend for r in listed), Decimal(0))) == (count, spend)


#: Allocation rules an example may write: each gives "red" or "blue" to the charges it matches.
RULE_MATCHERS = [
    {"arn_pattern": "*"},
    {"arn_pattern": "*a*"},
    {"arn_pattern": "arn:aws:ec2:*"},
    {"regions": ["us-east-1"]},
    {"resource_types": ["s3:bucket"]},
    {"name_pattern": "?*"},
]
SHARED_RULES = [
    {"mode": "proportional"},
    {"mode": "even"},
    {"mode": "fixed", "percentages": {"red": "33.3333", "blue": "66.6667"}},
]


@properties
@given(
    billed=billed_estates() | st.just(CROWDED),
    data=st.data(),
    rules=st.lists(st.tuples(st.sampled_from(RULE_MATCHERS), st.sampled_from(ALLOWED)), max_size=3),
    shared=st.lists(st.sampled_from(SHARED_RULES), max_size=2),
)
def test_as_allocated_adds_up_to_the_total(
    billed: Billed,
    data: st.DataObject,
    rules: list[tuple[dict[str, Any], str]],
    shared: list[dict[str, Any]],
) -> None:
    """total = sum(allocated) + sum(shared) + what the rules leave, exactly, whatever the rules;
    and the rules take nothing from the figures as tagged."""
    estate, lines = billed
    with rolled_back():
        _scan, stored = store_inventory(DOCUMENT, estate)
        for arn in sorted(stored):
            Resource.objects.filter(arn=arn).update(tags=data.draw(st.sampled_from(TAGGINGS)))
        store_bill(lines)
        viewer = Operator()
        as_tagged = reads.spend_by_tag(viewer, KEY)
        for position, (matchers, value) in enumerate(rules):
            row = AllocationRule(
                tag_key=KEY, name=f"rule {position}", value=value, position=position, **matchers
            )
            do_save_allocation_rule(row, acting=viewer)
        for position, fields in enumerate(shared):
            do_save_shared_cost_rule(
                SharedCostRule(tag_key=KEY, name=f"shared {position}", position=position, **fields),
                acting=viewer,
            )

        showback = reads.spend_by_tag(viewer, KEY)

        left = showback.allocated
        assert left is not None
        shares = sum((row.shared_spend for row in showback.rows), Decimal(0))
        assert shares == left.shared_spend
        assert showback.total_spend == (
            sum((row.allocated_spend for row in showback.rows), Decimal(0))
            + shares
            + left.untagged_spend
            + left.invalid_spend
            + left.unattributable_spend
            + left.unmatched_resource_spend
        )
        assert [(row.value, row.spend) for row in showback.rows if row.spend] == [
            (row.value, row.spend) for row in as_tagged.rows if row.spend
        ]
        assert (showback.untagged_spend, showback.invalid_spend, showback.total_spend) == (
            as_tagged.untagged_spend,
            as_tagged.invalid_spend,
            as_tagged.total_spend,
        )
