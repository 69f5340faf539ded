"""ElastiCache cache clusters (each node group of a Redis/Valkey replication group is one).

DescribeCacheClusters has no tags; ListTagsForResource, one call per cluster. Note that AWS
accepts page sizes of 20 to 100 here (botocore does not check it): only tests force smaller.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    items,
    tag_dict,
    unless_vanished,
)

_GONE_STATES = frozenset({"deleting", "deleted"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    elasticache = scope.client("elasticache")
    for cluster in items(elasticache, "describe_cache_clusters", "CacheClusters"):
        if cluster["CacheClusterStatus"] in _GONE_STATES:
            continue
        cluster_id = cluster["CacheClusterId"]
        arn = cluster.get("ARN") or scope.arn("elasticache", f"cluster:{cluster_id}")
        listed = unless_vanished(elasticache.list_tags_for_resource, ResourceName=arn)
        if listed is None:
            continue
        yield scope.resource(
            "elasticache:cluster",
            arn,
            cluster_id,
            tag_dict(listed.get("TagList")),
            attributes(
                state=cluster["CacheClusterStatus"],
                engine=cluster.get("Engine"),
                instance_type=cluster.get("CacheNodeType"),
                replication_group_id=cluster.get("ReplicationGroupId"),
            ),
        )


COLLECTORS = (
    Collector(
        "elasticache:cluster",
        "elasticache",
        ("elasticache:DescribeCacheClusters", "elasticache:ListTagsForResource"),
        _clusters,
    ),
)
