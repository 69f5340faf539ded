"""DocumentDB and Neptune clusters: RDS clusters of their own engines, listed as their own types.

Both services answer on the RDS API: DescribeDBClusters through the ``docdb`` or ``neptune``
client, with an ``engine`` filter (without it the call lists every RDS cluster too), is the IAM
action ``rds:DescribeDBClusters`` and returns RDS cluster ARNs. The DocumentDB and Neptune
models of that call have no ``TagList`` (botocore drops it from their answers), so tags come
from the Resource Groups Tagging API by ARN, 100 clusters a call, instead of one
ListTagsForResource per cluster. Clusters being deleted are left out. ``rds:cluster`` leaves
these two engines out so that no cluster is listed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)

_GONE_STATES = frozenset({"deleting"})


def _engine_clusters(
    resource_type: str, service: str, engine: str
) -> Callable[[Scope], Iterator[DiscoveredResource]]:
    def clusters(scope: Scope) -> Iterator[DiscoveredResource]:
        client = scope.client(service)
        only_engine = [{"Name": "engine", "Values": [engine]}]
        # AWS accepts page sizes of 20 to 100 here: only tests force smaller.
        for cluster in items(client, "describe_db_clusters", "DBClusters", Filters=only_engine):
            # The filter says it already; an endpoint that ignores it must not mix types.
            if cluster.get("Engine") != engine or cluster["Status"] in _GONE_STATES:
                continue
            yield scope.resource(
                resource_type,
                cluster["DBClusterArn"],
                cluster["DBClusterIdentifier"],
                {},
                attributes(
                    state=cluster["Status"],
                    engine=cluster.get("Engine"),
                    engine_version=cluster.get("EngineVersion"),
                ),
            )

    return clusters


COLLECTORS = (
    Collector(
        "docdb:cluster",
        "docdb",
        ("rds:DescribeDBClusters", TAGGING_API_ACTION),
        _engine_clusters("docdb:cluster", "docdb", "docdb"),
        tags=TagSource.TAGGING_API,
        label="DocumentDB cluster",
        list_call="rds:DescribeDBClusters",
        console=(
            "https://{region}.console.aws.amazon.com/docdb/home?region={region}"
            "#cluster-details/{id}"
        ),
        # Custodian's rds-cluster lists every DescribeDBClusters cluster, DocumentDB's included.
        custodian="aws.rds-cluster",
    ),
    Collector(
        "neptune:cluster",
        "neptune",
        ("rds:DescribeDBClusters", TAGGING_API_ACTION),
        _engine_clusters("neptune:cluster", "neptune", "neptune"),
        tags=TagSource.TAGGING_API,
        label="Neptune cluster",
        list_call="rds:DescribeDBClusters",
        console=(
            "https://{region}.console.aws.amazon.com/neptune/home?region={region}"
            "#database:id={id};is-cluster=true"
        ),
        # As for DocumentDB: Custodian lists Neptune clusters as rds-cluster.
        custodian="aws.rds-cluster",
    ),
)
