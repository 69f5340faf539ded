"""ECS clusters, services and task definitions.

Clusters: ListClusters returns ARNs only, and also lists deleted clusters (INACTIVE) for a
while, so DescribeClusters (100 clusters a call) is kept for the state; asked with
``include=["TAGS"]`` it returns the tags too, so clusters read their tags from it: the tagging
API would add calls, not save any. Clusters being torn down or deleted (``_GONE_CLUSTER_STATES``)
are left out.

Services: ListServices, once per cluster, returns ARNs only, and only of live services:
draining and inactive (deleted) ones are no longer listed. The name is the ARN's last part, so
no describe call is needed (DescribeServices took 10 services a call); tags come from the
Resource Groups Tagging API, 100 services a call. Services with the old ARN format (no cluster
in the ARN) cannot be tagged at all, and are reported untagged.

Task definitions: ListTaskDefinitions, asked for ACTIVE ones only, returns one ARN per revision;
each revision is one resource, named ``family:revision``, with its tags from the Resource Groups
Tagging API. Deregistered (INACTIVE) and deleting (DELETE_IN_PROGRESS) revisions
(``_GONE_TASK_DEFINITION_STATES``) are not asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    chunks,
    items,
    tag_dict,
    unless_vanished,
)

#: The most ARNs DescribeClusters accepts in one call.
CLUSTERS_PER_CALL = 100

#: A deleted cluster stays visible as INACTIVE for a while; DEPROVISIONING is a cluster whose
#: capacity providers are being removed as it is deleted.
_GONE_CLUSTER_STATES = frozenset({"DEPROVISIONING", "INACTIVE"})
#: Not asked for: ListTaskDefinitions is called with ``status="ACTIVE"``.
_GONE_TASK_DEFINITION_STATES = frozenset({"INACTIVE", "DELETE_IN_PROGRESS"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    ecs = scope.client("ecs")
    arns = list(items(ecs, "list_clusters", "clusterArns"))
    for batch in chunks(arns, CLUSTERS_PER_CALL):
        described = ecs.describe_clusters(clusters=list(batch), include=["TAGS"])
        for cluster in described["clusters"]:
            if cluster["status"] in _GONE_CLUSTER_STATES:
                continue
            yield scope.resource(
                "ecs:cluster",
                cluster["clusterArn"],
                cluster["clusterName"],
                tag_dict(cluster.get("tags"), key="key", value="value"),
                attributes(state=cluster["status"]),
            )


def _arn_name(arn: str) -> str:
    """The last part of an ECS ARN: a service's name, a task definition's ``family:revision``."""
    return arn.rsplit("/", 1)[-1]


def _service_arns(ecs: Any, cluster_arn: str) -> list[str]:
    return list(items(ecs, "list_services", "serviceArns", cluster=cluster_arn))


def _services(scope: Scope) -> Iterator[DiscoveredResource]:
    ecs = scope.client("ecs")
    for cluster_arn in items(ecs, "list_clusters", "clusterArns"):
        # A cluster deleted since it was listed (or listed while INACTIVE) has no services.
        arns = unless_vanished(_service_arns, ecs, cluster_arn)
        for arn in arns or ():
            yield scope.resource(
                "ecs:service",
                arn,
                _arn_name(arn),
                {},
                attributes(parent_arn=cluster_arn),
            )


def _task_definitions(scope: Scope) -> Iterator[DiscoveredResource]:
    ecs = scope.client("ecs")
    for arn in items(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"):
        name = _arn_name(arn)
        family, _, revision = name.rpartition(":")
        yield scope.resource(
            "ecs:task-definition",
            arn,
            name,
            {},
            attributes(family=family, revision=revision),
        )


COLLECTORS = (
    Collector(
        "ecs:cluster",
        "ecs",
        ("ecs:DescribeClusters", "ecs:ListClusters"),
        _clusters,
        label="ECS cluster",
        list_call="ecs:ListClusters",
        console="https://{region}.console.aws.amazon.com/ecs/v2/clusters/{name}/services?region={region}",
        custodian="aws.ecs",
    ),
    Collector(
        "ecs:service",
        "ecs",
        ("ecs:ListClusters", "ecs:ListServices", TAGGING_API_ACTION),
        _services,
        tags=TagSource.TAGGING_API,
        label="ECS service",
        list_call="ecs:ListServices",
        # A service's console page is under its cluster's, which no pattern part names: this
        # opens the region's cluster list.
        console="https://{region}.console.aws.amazon.com/ecs/v2/clusters?region={region}",
        custodian="aws.ecs-service",
    ),
    Collector(
        "ecs:task-definition",
        "ecs",
        ("ecs:ListTaskDefinitions", TAGGING_API_ACTION),
        _task_definitions,
        tags=TagSource.TAGGING_API,
        label="ECS task definition",
        list_call="ecs:ListTaskDefinitions",
        # A revision's console page is .../task-definitions/FAMILY/REVISION, which no pattern
        # part names: this opens the region's task definition list.
        console="https://{region}.console.aws.amazon.com/ecs/v2/task-definitions?region={region}",
        custodian="aws.ecs-task-definition",
    ),
)
