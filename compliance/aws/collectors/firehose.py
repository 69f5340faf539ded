"""Amazon Data Firehose (Kinesis Data Firehose) delivery streams.

ListDeliveryStreams lists the name of every delivery stream of the region, of every source
type, never-tagged ones included; it has its own pagination (ExclusiveStartDeliveryStreamName
and HasMoreDeliveryStreams, no paginator in botocore), followed by hand. ARNs are built from
the names. Tags come from the Resource Groups Tagging API, 100 streams a call (no
ListTagsForDeliveryStream per stream). The list carries no status, and telling a stream being
deleted from an active one would take a DescribeDeliveryStream per stream: one being deleted
stays listed until it is gone.
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
    page_size,
)

#: ListDeliveryStreams returns at most 10,000 names a call (10 unless asked).
LIST_PAGE_SIZE = 10_000


def _stream_names(firehose: Any) -> Iterator[str]:
    params: dict[str, Any] = {}
    if limit := page_size(LIST_PAGE_SIZE):
        params["Limit"] = limit
    seen: set[str] = set()
    while True:
        page = firehose.list_delivery_streams(**params)
        names = [name for name in page.get("DeliveryStreamNames", []) if name not in seen]
        seen.update(names)
        yield from names
        # Guard against an endpoint that repeats itself: a page with no new name ends the list
        # (instead of asking for the same page forever, or listing a stream twice).
        if not page.get("HasMoreDeliveryStreams") or not names:
            return
        params["ExclusiveStartDeliveryStreamName"] = names[-1]


def _delivery_streams(scope: Scope) -> Iterator[DiscoveredResource]:
    firehose = scope.client("firehose")
    for name in _stream_names(firehose):
        yield scope.resource(
            "firehose:deliverystream",
            scope.arn("firehose", f"deliverystream/{name}"),
            name,
            {},
        )


COLLECTORS = (
    Collector(
        "firehose:deliverystream",
        "firehose",
        ("firehose:ListDeliveryStreams", TAGGING_API_ACTION),
        _delivery_streams,
        tags=TagSource.TAGGING_API,
        label="Firehose stream",
        list_call="firehose:ListDeliveryStreams",
        console=(
            "https://{region}.console.aws.amazon.com/firehose/home?region={region}"
            "#/details/{name}/monitoring"
        ),
        custodian="aws.firehose",
    ),
)
