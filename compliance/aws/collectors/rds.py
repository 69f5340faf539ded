"""RDS instances and clusters. Both describe calls return tags inline (``TagList``).

The RDS API also serves DocumentDB and Neptune: their clusters are types of their own
(``docdb:cluster``, ``neptune:cluster``, see :mod:`compliance.aws.collectors.docdb`), so
clusters of those engines are left out here. Their instances stay ``rds:db``, as AWS tag policies
name them: the instances are what those engines bill. Instances and clusters being deleted are
left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

_GONE_STATES = frozenset({"deleting"})
#: Engines whose clusters are types of their own: DescribeDBClusters returns them too.
_OTHER_TYPES_ENGINES = frozenset({"docdb", "neptune"})


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
    # The engine filter only selects, it cannot exclude: the other engines are skipped here.
    for cluster in items(rds, "describe_db_clusters", "DBClusters"):
        if cluster["Status"] in _GONE_STATES or cluster.get("Engine") in _OTHER_TYPES_ENGINES:
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
    Collector(
        "rds:db",
        "rds",
        ("rds:DescribeDBInstances",),
        _instances,
        label="RDS DB instance",
        list_call="rds:DescribeDBInstances",
        console=(
            "https://{region}.console.aws.amazon.com/rds/home?region={region}"
            "#database:id={id};is-cluster=false"
        ),
        custodian="aws.rds",
    ),
    Collector(
        "rds:cluster",
        "rds",
        ("rds:DescribeDBClusters",),
        _clusters,
        label="RDS DB cluster",
        list_call="rds:DescribeDBClusters",
        console=(
            "https://{region}.console.aws.amazon.com/rds/home?region={region}"
            "#database:id={id};is-cluster=true"
        ),
        custodian="aws.rds-cluster",
    ),
)
