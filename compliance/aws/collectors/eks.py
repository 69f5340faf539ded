"""EKS clusters. ListClusters returns names only; DescribeCluster gives tags, state and VPC."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, unless_vanished

_GONE_STATES = frozenset({"DELETING"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    eks = scope.client("eks")
    for name in items(eks, "list_clusters", "clusters"):
        described = unless_vanished(eks.describe_cluster, name=name)
        if described is None or described["cluster"]["status"] in _GONE_STATES:
            continue
        cluster = described["cluster"]
        yield scope.resource(
            "eks:cluster",
            cluster["arn"],
            name,
            dict(cluster.get("tags") or {}),
            attributes(
                state=cluster["status"],
                version=cluster.get("version"),
                vpc_id=(cluster.get("resourcesVpcConfig") or {}).get("vpcId"),
            ),
        )


COLLECTORS = (
    Collector("eks:cluster", "eks", ("eks:DescribeCluster", "eks:ListClusters"), _clusters),
)
