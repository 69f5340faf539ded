"""RDS instances and clusters. Both describe calls return tags inline (``TagList``).

The RDS API also serves Neptune and DocumentDB, so their instances and clusters are listed too:
their ARNs are RDS ARNs, and tag policies treat them as ``rds:db`` / ``rds:cluster``.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

_GONE_STATES = frozenset({"deleting"})


def _instances(scope: Scope) -> Iterator[DiscoveredResource]:
    rds = scope.client("rds")
    for db in items(rds, "describe_db_instances", "DBInstances"):
        if db["DBInstanceStatus"] in _GONE_STATES:
            continue
        yield scope.resource(
            "rds:db",
            db["DBInstanceArn"],
            db["DBInstanceIdentifier"],
            tag_dict(db.get("TagList")),
            attributes(
                state=db["DBInstanceStatus"],
                engine=db.get("Engine"),
                instance_type=db.get("DBInstanceClass"),
                vpc_id=(db.get("DBSubnetGroup") or {}).get("VpcId"),
                parent_arn=_cluster_arn(scope, db.get("DBClusterIdentifier")),
            ),
        )


def _cluster_arn(scope: Scope, cluster_id: str | None) -> str | None:
    return scope.arn("rds", f"cluster:{cluster_id}") if cluster_id else None


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    rds = scope.client("rds")
    for cluster in items(rds, "describe_db_clusters", "DBClusters"):
        if cluster["Status"] in _GONE_STATES:
            continue
        yield scope.resource(
            "rds:cluster",
            cluster["DBClusterArn"],
            cluster["DBClusterIdentifier"],
            tag_dict(cluster.get("TagList")),
            attributes(
                state=cluster["Status"],
                engine=cluster.get("Engine"),
                instance_type=cluster.get("DBClusterInstanceClass"),
            ),
        )


COLLECTORS = (
    Collector("rds:db", "rds", ("rds:DescribeDBInstances",), _instances),
    Collector("rds:cluster", "rds", ("rds:DescribeDBClusters",), _clusters),
)
