"""Load balancers of every kind: Application, Network and Gateway (the ELBv2 API) and Classic
(the older ELB API).

AWS's tagging API, tag policies and the bill all name both APIs' load balancers
``elasticloadbalancing:loadbalancer``, so one collector lists both: DescribeLoadBalancers of each
API, which return every load balancer of the region, tagged or not, and the ``kind`` attribute
tells them apart (``application``, ``network``, ``gateway`` or ``classic``). Tags come from the
Resource Groups Tagging API, 100 load balancers a call, rather than from the APIs' own
DescribeTags (20 a call in ELBv2). ELBv2 answers with each ARN; Classic Load Balancers have none
in their answer and are named as the tagging API names them,
``arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/NAME``. Neither API has a deleting
state: a deleted load balancer is no longer described, so nothing is left out.
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

_RESOURCE_TYPE = "elasticloadbalancing:loadbalancer"


def _current_load_balancers(scope: Scope) -> Iterator[DiscoveredResource]:
    elbv2 = scope.client("elbv2")
    for lb in items(elbv2, "describe_load_balancers", "LoadBalancers"):
        yield scope.resource(
            _RESOURCE_TYPE,
            lb["LoadBalancerArn"],
            lb["LoadBalancerName"],
            {},
            attributes(
                kind=lb.get("Type"),
                state=(lb.get("State") or {}).get("Code"),
                scheme=lb.get("Scheme"),
                vpc_id=lb.get("VpcId"),
            ),
        )


def _classic_load_balancers(scope: Scope) -> Iterator[DiscoveredResource]:
    elb = scope.client("elb")
    for lb in items(elb, "describe_load_balancers", "LoadBalancerDescriptions"):
        name = lb["LoadBalancerName"]
        yield scope.resource(
            _RESOURCE_TYPE,
            scope.arn("elasticloadbalancing", f"loadbalancer/{name}"),
            name,
            {},
            attributes(kind="classic", scheme=lb.get("Scheme"), vpc_id=lb.get("VPCId")),
        )


def _load_balancers(scope: Scope) -> Iterator[DiscoveredResource]:
    yield from _current_load_balancers(scope)
    yield from _classic_load_balancers(scope)


COLLECTORS = (
    Collector(
        _RESOURCE_TYPE,
        "elbv2",
        # One IAM action covers DescribeLoadBalancers in both APIs.
        ("elasticloadbalancing:DescribeLoadBalancers", TAGGING_API_ACTION),
        _load_balancers,
        tags=TagSource.TAGGING_API,
        label="Load balancer",
        list_call="elasticloadbalancing:DescribeLoadBalancers",
        # One page for every kind: the console finds a load balancer by name whatever its API.
        console="https://{region}.console.aws.amazon.com/ec2/home?region={region}"
        "#LoadBalancers:search={name}",
        custodian="aws.app-elb",
    ),
)
