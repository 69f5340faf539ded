"""Redshift provisioned clusters and Redshift Serverless workgroups.

DescribeClusters returns each cluster's tags inline, but not its ARN: the ARN is built as the
tagging API and the bill name it (``cluster:<identifier>``; ``ClusterNamespaceArn`` is the
namespace's, another resource). ListWorkgroups returns no tags, so workgroup tags come from the
Resource Groups Tagging API by ARN. Clusters being deleted (``deleting``, or taking their final
snapshot before deletion) and workgroups being deleted are left out.
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
    tag_dict,
)

#: Clusters being deleted: ``final-snapshot`` is the snapshot taken on the way to deletion.
_GONE_STATES = frozenset({"deleting", "final-snapshot"})
_GONE_WORKGROUP_STATES = frozenset({"DELETING"})


def _clusters(scope: Scope) -> Iterator[DiscoveredResource]:
    redshift = scope.client("redshift")
    # AWS accepts page sizes of 20 to 100 here (botocore does not check it): only tests force
    # smaller.
    for cluster in items(redshift, "describe_clusters", "Clusters"):
        if cluster["ClusterStatus"] in _GONE_STATES:
            continue
        cluster_id = cluster["ClusterIdentifier"]
        yield scope.resource(
            "redshift:cluster",
            scope.arn("redshift", f"cluster:{cluster_id}"),
            cluster_id,
            tag_dict(cluster.get("Tags")),
            attributes(
                state=cluster["ClusterStatus"],
                node_type=cluster.get("NodeType"),
                nodes=cluster.get("NumberOfNodes"),
                vpc_id=cluster.get("VpcId"),
            ),
        )


def _workgroups(scope: Scope) -> Iterator[DiscoveredResource]:
    serverless = scope.client("redshift-serverless")
    for workgroup in items(serverless, "list_workgroups", "workgroups"):
        if workgroup["status"] in _GONE_WORKGROUP_STATES:
            continue
        yield scope.resource(
            "redshift-serverless:workgroup",
            workgroup["workgroupArn"],
            workgroup["workgroupName"],
            {},
            attributes(
                state=workgroup["status"],
                namespace=workgroup.get("namespaceName"),
                base_capacity=workgroup.get("baseCapacity"),
            ),
        )


COLLECTORS = (
    Collector(
        "redshift:cluster",
        "redshift",
        ("redshift:DescribeClusters",),
        _clusters,
        label="Redshift cluster",
        list_call="redshift:DescribeClusters",
        console=(
            "https://{region}.console.aws.amazon.com/redshiftv2/home?region={region}"
            "#cluster-details?cluster={id}"
        ),
        custodian="aws.redshift",
    ),
    Collector(
        "redshift-serverless:workgroup",
        "redshift-serverless",
        ("redshift-serverless:ListWorkgroups", TAGGING_API_ACTION),
        _workgroups,
        tags=TagSource.TAGGING_API,
        label="Redshift Serverless workgroup",
        list_call="redshift-serverless:ListWorkgroups",
        console=(
            "https://{region}.console.aws.amazon.com/redshiftv2/home?region={region}"
            "#serverless-workgroup?workgroup={name}"
        ),
        # Custodian's own AWS provider has no workgroup resource; its Cloud Control one has.
        custodian="awscc.redshiftserverless_workgroup",
    ),
)
