"""MemoryDB clusters.

DescribeClusters returns each cluster's ARN but no tags, so tags come from the Resource Groups
Tagging API by ARN, 100 clusters a call (not ListTags, one call per cluster). Clusters being
deleted are left out.
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

#: Compared in lower case (AWS documents "Deleting", answers "deleting").
_GONE_STATES = frozenset({"deleting"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    memorydb = scope.client("memorydb")
    for cluster in items(memorydb, "describe_clusters", "Clusters"):
        if str(cluster["Status"]).lower() in _GONE_STATES:
            continue
        name = cluster["Name"]
        yield scope.resource(
            "memorydb:cluster",
            cluster.get("ARN") or scope.arn("memorydb", f"cluster/{name}"),
            name,
            {},
            attributes(
                state=cluster["Status"],
                engine=cluster.get("Engine"),
                engine_version=cluster.get("EngineVersion"),
                node_type=cluster.get("NodeType"),
                shards=cluster.get("NumberOfShards"),
            ),
        )


COLLECTORS = (
    Collector(
        "memorydb:cluster",
        "memorydb",
        ("memorydb:DescribeClusters", TAGGING_API_ACTION),
        _clusters,
        tags=TagSource.TAGGING_API,
        label="MemoryDB cluster",
        list_call="memorydb:DescribeClusters",
        console=(
            "https://{region}.console.aws.amazon.com/memorydb/home?region={region}#/clusters/{id}"
        ),
        custodian="aws.memorydb",
    ),
)
