"""Kinesis data streams. ListStreams gives ARN and status; tags come from ListTagsForStream,
which has its own pagination (no paginator in botocore) and is followed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    items,
    page_size,
    tag_dict,
    unless_vanished,
)

_GONE_STATES = frozenset({"DELETING"})


def _stream_tags(kinesis: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    params: dict[str, Any] = {"StreamARN": arn}
    if limit := page_size():
        params["Limit"] = limit
    while True:
        page = kinesis.list_tags_for_stream(**params)
        page_tags = page.get("Tags", [])
        tags.update(tag_dict(page_tags))
        if not page.get("HasMoreTags") or not page_tags:
            return tags
        start = page_tags[-1]["Key"]
        # Guard against an endpoint that repeats the start key and never moves on.
        if start == params.get("ExclusiveStartTagKey"):
            return tags
        params["ExclusiveStartTagKey"] = start


def _streams(scope: Scope) -> Iterator[DiscoveredResource]:
    kinesis = scope.client("kinesis")
    for stream in items(kinesis, "list_streams", "StreamSummaries"):
        if stream["StreamStatus"] in _GONE_STATES:
            continue
        arn = stream["StreamARN"]
        tags = unless_vanished(_stream_tags, kinesis, arn)
        if tags is None:
            continue
        yield scope.resource(
            "kinesis:stream",
            arn,
            stream["StreamName"],
            tags,
            attributes(
                state=stream["StreamStatus"],
                stream_mode=(stream.get("StreamModeDetails") or {}).get("StreamMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "kinesis:stream",
        "kinesis",
        ("kinesis:ListStreams", "kinesis:ListTagsForStream"),
        _streams,
    ),
)
