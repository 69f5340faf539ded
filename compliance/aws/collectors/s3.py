"""S3 buckets: one global list per account, each bucket filed under its own region."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, items, tag_dict, unless_vanished

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
    # API versions do not, and then GetBucketLocation says where it is.
    if bucket.get("BucketRegion"):
        return str(bucket["BucketRegion"])
    location = s3.get_bucket_location(Bucket=bucket["Name"]).get("LocationConstraint")
    return region_from_location(location)


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        return tag_dict(s3.get_bucket_tagging(Bucket=name)["TagSet"])
    except ClientError as error:
        # A bucket without tags has no tag set at all: GetBucketTagging answers with an error.
        if error.response.get("Error", {}).get("Code") == "NoSuchTagSet":
            return {}
        raise


def _buckets(scope: Scope) -> Iterator[DiscoveredResource]:
    s3 = scope.client("s3")
    for bucket in items(s3, "list_buckets", "Buckets", default_page_size=LIST_PAGE_SIZE):
        name = bucket["Name"]
        region = unless_vanished(_bucket_region, s3, bucket)
        if region is None or (scope.only_regions is not None and region not in scope.only_regions):
            continue
        # Asked in the bucket's own region, the tag call needs no redirect.
        tags = unless_vanished(_bucket_tags, scope.client("s3", region), name)
        if tags is None:
            continue
        # Bucket ARNs name neither region nor account: bucket names are unique per partition.
        arn = f"arn:{scope.partition}:s3:::{name}"
        yield scope.resource("s3:bucket", arn, name, tags, region=region)


COLLECTORS = (
    Collector(
        "s3:bucket",
        "s3",
        ("s3:GetBucketLocation", "s3:GetBucketTagging", "s3:ListAllMyBuckets"),
        _buckets,
        is_global=True,
    ),
)
