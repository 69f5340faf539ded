"""EMR clusters that are starting, running or waiting.

ListClusters is asked for the active states only: terminated clusters stay listed for two
months and cost nothing. It returns each cluster's ARN but no tags (only DescribeCluster, one
call per cluster, has them), so tags come from the Resource Groups Tagging API by ARN, 100
clusters a call. Terminating and terminated clusters are left out.
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

_GONE_STATES = frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"})
#: Every other cluster state: the ones ListClusters is asked for.
_ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    emr = scope.client("emr")
    # ListClusters takes no page size: AWS pages it by 50.
    for cluster in items(
        emr, "list_clusters", "Clusters", sized=False, ClusterStates=list(_ACTIVE_STATES)
    ):
        state = (cluster.get("Status") or {}).get("State")
        if state in _GONE_STATES:
            continue
        cluster_id = cluster["Id"]
        yield scope.resource(
            "elasticmapreduce:cluster",
            cluster.get("ClusterArn") or scope.arn("elasticmapreduce", f"cluster/{cluster_id}"),
            cluster.get("Name") or cluster_id,
            {},
            attributes(state=state, cluster_id=cluster_id),
        )


COLLECTORS = (
    Collector(
        "elasticmapreduce:cluster",
        "emr",
        ("elasticmapreduce:ListClusters", TAGGING_API_ACTION),
        _clusters,
        tags=TagSource.TAGGING_API,
        label="EMR cluster",
        list_call="elasticmapreduce:ListClusters",
        console=(
            "https://{region}.console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{id}"
        ),
        custodian="aws.emr",
    ),
)
