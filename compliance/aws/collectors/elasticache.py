"""ElastiCache cache clusters, replication groups and serverless caches.

A cache cluster is a Memcached cluster or one node of a Redis OSS/Valkey replication group; a
replication group is the Redis OSS/Valkey cache those nodes make up. None of the three describe
calls returns tags, so tags come from the Resource Groups Tagging API by ARN, 100 resources a
call (not ListTagsForResource, one call per resource). Resources being deleted are left out.
AWS accepts page sizes of 20 to 100 for the cache cluster and replication group calls (botocore
does not check it): only tests force smaller.
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

#: Compared in lower case: clusters and groups answer "deleting", serverless caches "DELETING".
_GONE_STATES = frozenset({"deleting", "deleted"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    elasticache = scope.client("elasticache")
    for cluster in items(elasticache, "describe_cache_clusters", "CacheClusters"):
        if str(cluster["CacheClusterStatus"]).lower() in _GONE_STATES:
            continue
        cluster_id = cluster["CacheClusterId"]
        yield scope.resource(
            "elasticache:cluster",
            cluster.get("ARN") or scope.arn("elasticache", f"cluster:{cluster_id}"),
            cluster_id,
            {},
            attributes(
                state=cluster["CacheClusterStatus"],
                engine=cluster.get("Engine"),
                instance_type=cluster.get("CacheNodeType"),
                replication_group_id=cluster.get("ReplicationGroupId"),
            ),
        )


def _replication_groups(scope: Scope) -> Iterator[DiscoveredResource]:
    elasticache = scope.client("elasticache")
    for group in items(elasticache, "describe_replication_groups", "ReplicationGroups"):
        if str(group["Status"]).lower() in _GONE_STATES:
            continue
        group_id = group["ReplicationGroupId"]
        yield scope.resource(
            "elasticache:replicationgroup",
            group.get("ARN") or scope.arn("elasticache", f"replicationgroup:{group_id}"),
            group_id,
            {},
            attributes(
                state=group["Status"],
                engine=group.get("Engine"),
                instance_type=group.get("CacheNodeType"),
                cluster_mode=group.get("ClusterMode"),
            ),
        )


def _serverless_caches(scope: Scope) -> Iterator[DiscoveredResource]:
    elasticache = scope.client("elasticache")
    for cache in items(elasticache, "describe_serverless_caches", "ServerlessCaches"):
        if str(cache["Status"]).lower() in _GONE_STATES:
            continue
        name = cache["ServerlessCacheName"]
        yield scope.resource(
            "elasticache:serverlesscache",
            cache.get("ARN") or scope.arn("elasticache", f"serverlesscache:{name}"),
            name,
            {},
            attributes(
                state=cache["Status"],
                engine=cache.get("Engine"),
                engine_version=cache.get("FullEngineVersion") or cache.get("MajorEngineVersion"),
            ),
        )


COLLECTORS = (
    Collector(
        "elasticache:cluster",
        "elasticache",
        ("elasticache:DescribeCacheClusters", TAGGING_API_ACTION),
        _clusters,
        tags=TagSource.TAGGING_API,
        label="ElastiCache cache cluster",
        list_call="elasticache:DescribeCacheClusters",
        # The console shows a cluster of its own on the Memcached page; a node of a replication
        # group only within its group.
        console=(
            "https://{region}.console.aws.amazon.com/elasticache/home?region={region}"
            "#/memcached/{id}"
        ),
        custodian="aws.cache-cluster",
    ),
    Collector(
        "elasticache:replicationgroup",
        "elasticache",
        ("elasticache:DescribeReplicationGroups", TAGGING_API_ACTION),
        _replication_groups,
        tags=TagSource.TAGGING_API,
        label="ElastiCache replication group",
        list_call="elasticache:DescribeReplicationGroups",
        console=(
            "https://{region}.console.aws.amazon.com/elasticache/home?region={region}#/redis/{id}"
        ),
        custodian="aws.elasticache-group",
    ),
    Collector(
        "elasticache:serverlesscache",
        "elasticache",
        ("elasticache:DescribeServerlessCaches", TAGGING_API_ACTION),
        _serverless_caches,
        tags=TagSource.TAGGING_API,
        label="ElastiCache serverless cache",
        list_call="elasticache:DescribeServerlessCaches",
        console=(
            "https://{region}.console.aws.amazon.com/elasticache/home?region={region}"
            "#/serverless/{id}"
        ),
        # Custodian's own AWS provider has no serverless cache resource; its Cloud Control one
        # has.
        custodian="awscc.elasticache_serverlesscache",
    ),
)
