"""S3: one global list per account, each bucket filed, and its tags asked for, in its own
region."""

from __future__ import annotations

from typing import Any

import pytest

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors import core
from compliance.aws.collectors.core import Scope
from compliance.aws.collectors.s3 import region_from_location
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import make_bucket

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def test_buckets_are_listed_once_each_in_its_own_region(collect: Collect) -> None:
    made = {make_bucket(region, 0, {}).arn: region for region in REGIONS}
    found = collect("s3:bucket", "us-east-1").resources
    assert {arn: r.region for arn, r in found.items()} == made


def test_the_home_region_does_not_change_where_buckets_are(collect: Collect) -> None:
    made = {make_bucket(region, 0, {}).arn: region for region in REGIONS}
    found = collect("s3:bucket", "ap-southeast-2").resources
    assert {arn: r.region for arn, r in found.items()} == made


def test_a_region_filter_leaves_out_buckets_elsewhere(collect: Collect) -> None:
    kept = make_bucket("eu-west-1", 0, {})
    make_bucket("us-east-1", 0, {})
    make_bucket("ap-southeast-2", 0, {})
    found = collect("s3:bucket", "us-east-1", only_regions=frozenset({"eu-west-1"})).resources
    assert set(found) == {kept.arn}


def test_a_region_filter_skips_the_tag_calls_of_buckets_left_out(collect: Collect) -> None:
    kept = make_bucket("eu-west-1", 0, {"Owner": "ann"})
    make_bucket("us-east-1", 0, {"Owner": "bob"})
    collected = collect("s3:bucket", "us-east-1", only_regions=frozenset({"eu-west-1"}))
    assert {arn: r.tags for arn, r in collected.resources.items()} == {kept.arn: {"Owner": "ann"}}
    assert collected.calls["tagging:GetResources"] == 1


def test_tags_are_read_in_bulk_in_each_buckets_own_region(
    collect: Collect, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, frozenset[str]]] = []
    tagged = core._tagged

    def spy(scope: Scope, region: str, batch: list[DiscoveredResource]) -> Any:
        asked.append((region, frozenset(r.arn for r in batch)))
        return tagged(scope, region, batch)

    monkeypatch.setattr(core, "_tagged", spy)
    made = {
        make_bucket(region, i, {"Owner": f"o{i}"} if i else {}).arn: region
        for region in REGIONS
        for i in range(2)
    }
    collected = collect("s3:bucket", "us-east-1")
    assert {arn: r.tags for arn, r in collected.resources.items()} == {
        arn: {"Owner": "o1"} if arn.endswith("-1") else {} for arn in made
    }
    # One GetResources per region, naming that region's buckets: no GetBucketTagging at all.
    assert sorted(asked) == sorted(
        (region, frozenset(a for a, r in made.items() if r == region)) for region in REGIONS
    )
    assert collected.calls["tagging:GetResources"] == len(REGIONS)
    assert collected.calls["s3:GetBucketTagging"] == 0


@pytest.mark.parametrize(
    ("location", "region"),
    [
        (None, "us-east-1"),
        ("", "us-east-1"),
        ("EU", "eu-west-1"),
        ("eu-west-1", "eu-west-1"),
        ("ap-southeast-2", "ap-southeast-2"),
    ],
)
def test_location_constraints_name_regions(location: str | None, region: str) -> None:
    assert region_from_location(location) == region
