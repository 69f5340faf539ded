"""Application, Network and Gateway Load Balancers (the ELBv2 API).

Classic Load Balancers live in the older ELB API and are not collected.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    chunks,
    pages,
    tag_dict,
)

#: The most ARNs DescribeTags accepts in one call.
TAGS_PER_CALL = 20


def _load_balancers(scope: Scope) -> Iterator[DiscoveredResource]:
    elbv2 = scope.client("elbv2")
    # A page at a time, so the tags of one page are fetched before the next page is listed.
    for page in pages(elbv2, "describe_load_balancers"):
        balancers = page.get("LoadBalancers", [])
        tags: dict[str, dict[str, str]] = {}
        for batch in chunks([lb["LoadBalancerArn"] for lb in balancers], TAGS_PER_CALL):
            for description in elbv2.describe_tags(ResourceArns=list(batch))["TagDescriptions"]:
                tags[description["ResourceArn"]] = tag_dict(description.get("Tags"))
        for lb in balancers:
            arn = lb["LoadBalancerArn"]
            yield scope.resource(
                "elasticloadbalancing:loadbalancer",
                arn,
                lb["LoadBalancerName"],
                tags.get(arn, {}),
                attributes(
                    state=(lb.get("State") or {}).get("Code"),
                    load_balancer_type=lb.get("Type"),
                    vpc_id=lb.get("VpcId"),
                ),
            )


COLLECTORS = (
    Collector(
        "elasticloadbalancing:loadbalancer",
        "elbv2",
        ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
        _load_balancers,
    ),
)
