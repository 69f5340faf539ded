"""Classic Load Balancers come back in ``elasticloadbalancing:loadbalancer`` next to the ELBv2
ones: one type, as AWS's tagging API names both."""

from __future__ import annotations

from collections.abc import Callable

from compliance.aws.collectors import COLLECTORS
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, aws, make_load_balancer
from tests.compliance.aws.types.ec2_more import make_classic_load_balancer

TYPE = "elasticloadbalancing:loadbalancer"
REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Team": "edge"}


def test_a_never_tagged_classic_load_balancer_is_found_with_its_arn(collect: Collect) -> None:
    made = make_classic_load_balancer(REGION, 0, {})
    assert made.arn == f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/{made.name}"
    found = collect(TYPE, REGION).resources[made.arn]
    assert (found.resource_type, found.region, found.name) == (TYPE, REGION, made.name)
    assert found.tags == {}
    assert found.attributes["kind"] == "classic"


def test_a_tagged_classic_load_balancer_has_its_tags(collect: Collect) -> None:
    made = make_classic_load_balancer(REGION, 0, TAGS)
    # The tagging API's own answer names the load balancer as the collector does.
    tagged = aws("resourcegroupstaggingapi", REGION).get_resources()["ResourceTagMappingList"]
    assert made.arn in {mapping["ResourceARN"] for mapping in tagged}
    found = collect(TYPE, REGION).resources[made.arn]
    assert found.tags == TAGS


def test_both_kinds_come_back_every_page_read(
    collect: Collect, page_size: Callable[[int | None], None]
) -> None:
    current = {make_load_balancer(REGION, i, {"Team": f"v2-{i}"}).arn: i for i in range(3)}
    classic = {make_classic_load_balancer(REGION, i, {}).arn: i for i in range(3)}
    page_size(2)
    collected = collect(TYPE, REGION)
    kinds = {arn: resource.attributes["kind"] for arn, resource in collected.resources.items()}
    assert kinds == {**dict.fromkeys(current, "application"), **dict.fromkeys(classic, "classic")}
    assert {arn: collected.resources[arn].tags for arn in current} == {
        arn: {"Team": f"v2-{i}"} for arn, i in current.items()
    }
    # Two pages from each API, whose calls share one name; tags in one GetResources call.
    assert collected.calls["elasticloadbalancing:DescribeLoadBalancers"] == 4
    assert collected.calls["tagging:GetResources"] == 1
    assert set(collected.calls) == {
        "elasticloadbalancing:DescribeLoadBalancers",
        "tagging:GetResources",
    }
    assert set(COLLECTORS[TYPE].iam_actions) == {
        "elasticloadbalancing:DescribeLoadBalancers",
        "tag:GetResources",
    }
