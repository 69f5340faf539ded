"""EKS clusters. ListClusters lists every cluster, never-tagged ones included, but only by name;
DescribeCluster, one per cluster, gives its ARN, status, version and VPC, and its tags with
them, so tags cost no call of their own. Clusters being deleted are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, unless_vanished

_GONE_STATES = frozenset({"DELETING"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    eks = scope.client("eks")
    for name in items(eks, "list_clusters", "clusters"):
        # One DescribeCluster per cluster is needed: ListClusters gives names only, EKS has no
        # batch describe, and only DescribeCluster says whether a cluster is being deleted.
        # Its answer carries the tags, so the tagging API would only add calls.
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
    Collector(
        "eks:cluster",
        "eks",
        ("eks:DescribeCluster", "eks:ListClusters"),
        _clusters,
        label="EKS cluster",
        list_call="eks:ListClusters",
        console="https://{region}.console.aws.amazon.com/eks/home?region={region}#/clusters/{name}",
        custodian="aws.eks",
    ),
)
