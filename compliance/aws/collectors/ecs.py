"""ECS clusters and services. The list calls return ARNs only; the describe calls take batches
(100 clusters, 10 services per call) and return tags when asked with ``include=["TAGS"]``."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    chunks,
    items,
    tag_dict,
)

#: The most ARNs DescribeClusters / DescribeServices accept in one call.
CLUSTERS_PER_CALL = 100
SERVICES_PER_CALL = 10

#: A deleted cluster or service stays visible as INACTIVE for a while.
_GONE_STATES = frozenset({"INACTIVE"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    ecs = scope.client("ecs")
    arns = list(items(ecs, "list_clusters", "clusterArns"))
    for batch in chunks(arns, CLUSTERS_PER_CALL):
        described = ecs.describe_clusters(clusters=list(batch), include=["TAGS"])
        for cluster in described["clusters"]:
            if cluster["status"] in _GONE_STATES:
                continue
            yield scope.resource(
                "ecs:cluster",
                cluster["clusterArn"],
                cluster["clusterName"],
                tag_dict(cluster.get("tags"), key="key", value="value"),
                attributes(state=cluster["status"]),
            )


def _services(scope: Scope) -> Iterator[DiscoveredResource]:
    ecs = scope.client("ecs")
    for cluster_arn in items(ecs, "list_clusters", "clusterArns"):
        arns = list(items(ecs, "list_services", "serviceArns", cluster=cluster_arn))
        for batch in chunks(arns, SERVICES_PER_CALL):
            described = ecs.describe_services(
                cluster=cluster_arn, services=list(batch), include=["TAGS"]
            )
            for service in described["services"]:
                if service["status"] in _GONE_STATES:
                    continue
                yield scope.resource(
                    "ecs:service",
                    service["serviceArn"],
                    service["serviceName"],
                    tag_dict(service.get("tags"), key="key", value="value"),
                    attributes(
                        state=service["status"],
                        launch_type=service.get("launchType"),
                        parent_arn=cluster_arn,
                    ),
                )


COLLECTORS = (
    Collector("ecs:cluster", "ecs", ("ecs:DescribeClusters", "ecs:ListClusters"), _clusters),
    Collector(
        "ecs:service",
        "ecs",
        ("ecs:DescribeServices", "ecs:ListClusters", "ecs:ListServices"),
        _services,
    ),
)
