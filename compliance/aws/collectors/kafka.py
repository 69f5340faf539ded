"""Amazon MSK clusters, provisioned and serverless.

ListClustersV2 returns each cluster's ARN and tags (a map), so one call per page. Clusters being
deleted are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items

_GONE_STATES = frozenset({"DELETING"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    kafka = scope.client("kafka")
    for cluster in items(kafka, "list_clusters_v2", "ClusterInfoList"):
        if cluster["State"] in _GONE_STATES:
            continue
        provisioned = cluster.get("Provisioned") or {}
        yield scope.resource(
            "kafka:cluster",
            cluster["ClusterArn"],
            cluster["ClusterName"],
            dict(cluster.get("Tags") or {}),
            attributes(
                state=cluster["State"],
                cluster_type=cluster.get("ClusterType"),
                instance_type=(provisioned.get("BrokerNodeGroupInfo") or {}).get("InstanceType"),
                brokers=provisioned.get("NumberOfBrokerNodes"),
                kafka_version=(provisioned.get("CurrentBrokerSoftwareInfo") or {}).get(
                    "KafkaVersion"
                ),
            ),
        )


COLLECTORS = (
    Collector(
        "kafka:cluster",
        "kafka",
        ("kafka:ListClustersV2",),
        _clusters,
        label="MSK cluster",
        list_call="kafka:ListClustersV2",
        console="https://{region}.console.aws.amazon.com/msk/home?region={region}#/cluster/{arn}/view",
        custodian="aws.kafka",
    ),
)
