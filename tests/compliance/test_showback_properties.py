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

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance import reads
from compliance.models import Resource
from compliance.permissions.accounts import Operator
from compliance.reads.showback import INVALID, UNTAGGED
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
