"""S3: one global list per account, each bucket filed under its own region."""

from __future__ import annotations

import pytest

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
    make_bucket("eu-west-1", 0, {"Owner": "ann"})
    make_bucket("us-east-1", 0, {"Owner": "bob"})
    calls = collect("s3:bucket", "us-east-1", only_regions=frozenset({"eu-west-1"})).calls
    assert calls["s3:GetBucketTagging"] == 1


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
