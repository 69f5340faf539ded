"""Kinesis data streams. ListStreams lists every stream, never-tagged ones included, with its
ARN, status and capacity mode; tags come from the Resource Groups Tagging API, 100 streams a
call (no ListTagsForStream per stream, nor its own tag paging). Streams being deleted are left
out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)

_GONE_STATES = frozenset({"DELETING"})


def _streams(scope: Scope) -> Iterator[DiscoveredResource]:
    kinesis = scope.client("kinesis")
    for stream in items(kinesis, "list_streams", "StreamSummaries"):
        if stream["StreamStatus"] in _GONE_STATES:
            continue
        yield scope.resource(
            "kinesis:stream",
            stream["StreamARN"],
            stream["StreamName"],
            {},
            attributes(
                state=stream["StreamStatus"],
                stream_mode=(stream.get("StreamModeDetails") or {}).get("StreamMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "kinesis:stream",
        "kinesis",
        ("kinesis:ListStreams", TAGGING_API_ACTION),
        _streams,
        tags=TagSource.TAGGING_API,
        label="Kinesis data stream",
        list_call="kinesis:ListStreams",
        console=(
            "https://{region}.console.aws.amazon.com/kinesis/home?region={region}"
            "#/streams/details/{name}/details"
        ),
        custodian="aws.kinesis",
    ),
)
