"""S3 buckets: one global list per account, each bucket filed under its own region.

ListBuckets lists every bucket, never-tagged ones included, with its region in recent
responses (else one GetBucketLocation per bucket says where it is). Tags come from the Resource
Groups Tagging API of each bucket's own region, 100 buckets a call (no GetBucketTagging per
bucket). Buckets deleted between the list and the location call are left out; buckets have no
deleting state.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    items,
    unless_vanished,
)

#: ListBuckets only paginates when asked for a page size (accounts may have more than 10,000
#: buckets now), so we always ask, for the largest page it allows.
LIST_PAGE_SIZE = 10_000

#: GetBucketLocation answers with legacy names for the two oldest locations.
_LEGACY_LOCATIONS = {"": "us-east-1", "EU": "eu-west-1"}


def region_from_location(location: str | None) -> str:
    """A GetBucketLocation ``LocationConstraint`` as a region name.

    Buckets in us-east-1 have no location constraint (``None``); buckets created long ago in
    Ireland report ``EU``.
    """
    location = location or ""
    return _LEGACY_LOCATIONS.get(location, location)


def _bucket_region(s3: Any, bucket: dict[str, Any]) -> str:
    # Recent ListBuckets responses carry each bucket's region; S3-compatible endpoints and older
    # API versions do not, and then GetBucketLocation says where it is: the one per-bucket call
    # left, needed because a bucket is filed, and its tags asked for, in its own region.
    if bucket.get("BucketRegion"):
        return str(bucket["BucketRegion"])
    location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    return region_from_location(location)


def _buckets(scope: Scope) -> Iterator[DiscoveredResource]:
    s3 = scope.client("s3")
    for bucket in items(s3, "list_buckets", "Buckets", default_page_size=LIST_PAGE_SIZE):
        name = bucket["Name"]
        region = unless_vanished(_bucket_region, s3, bucket)
        if region is None or (scope.only_regions is not None and region not in scope.only_regions):
            continue
        # Bucket ARNs name neither region nor account: bucket names are unique per partition.
        arn = f"arn:{scope.partition}:s3:::{name}"
        yield scope.resource("s3:bucket", arn, name, {}, region=region)


COLLECTORS = (
    Collector(
        "s3:bucket",
        "s3",
        ("s3:GetBucketLocation", "s3:ListAllMyBuckets", TAGGING_API_ACTION),
        _buckets,
        is_global=True,
        tags=TagSource.TAGGING_API,
        label="S3 bucket",
        list_call="s3:ListAllMyBuckets",
        console="https://s3.console.aws.amazon.com/s3/buckets/{name}?region={region}",
        custodian="aws.s3",
    ),
)
