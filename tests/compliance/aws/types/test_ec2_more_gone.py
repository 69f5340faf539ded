"""Resources of this group on their way out, or not the account's own, are not inventory.

Where moto can put a resource in that state through the API, the test does so; where moto
deletes at once, the test sets the state on moto's own model, and moto's response (not one
written here) carries it. (moto derives the owner of network resources from the account that
holds them, so resources shared by other accounts are tested in test_ec2_more_stubbed.py.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends

from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, aws
from tests.compliance.aws.types.ec2_more import FACTORIES

REGION = "us-east-1"
OTHER_ACCOUNT = "210987654321"


def _last_part(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def vpc_endpoint_deleted(arn: str) -> None:
    aws("ec2", REGION).delete_vpc_endpoints(VpcEndpointIds=[_last_part(arn)])


def transit_gateway_deleting(arn: str) -> None:
    ec2_backends[ACCOUNT][REGION].transit_gateways[_last_part(arn)].state = "deleting"


def image_deregistered(arn: str) -> None:
    ec2_backends[ACCOUNT][REGION].amis[_last_part(arn)].state = "deregistered"


def auto_scaling_group_deleting(arn: str) -> None:
    group = autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[_last_part(arn)]
    # moto's model has no status of its own; its response reads one when set.
    group.status = "Delete in progress"  # type: ignore[attr-defined]


def image_of_another_account(arn: str) -> None:
    ec2_backends[ACCOUNT][REGION].amis[_last_part(arn)].owner_id = OTHER_ACCOUNT


#: (type, how to send one resource, by its ARN, out of the account's inventory)
LEAVING: list[tuple[str, Callable[[str], None]]] = [
    ("ec2:vpc-endpoint", vpc_endpoint_deleted),
    ("ec2:transit-gateway", transit_gateway_deleting),
    ("ec2:image", image_deregistered),
    ("ec2:image", image_of_another_account),
    ("autoscaling:autoScalingGroup", auto_scaling_group_deleting),
]


@pytest.mark.parametrize(("resource_type", "leave"), LEAVING)
def test_a_resource_leaving_the_inventory_is_left_out(
    resource_type: str, leave: Callable[[str], None], collect: Collect
) -> None:
    kept = FACTORIES[resource_type](REGION, 0, {})
    leaving = FACTORIES[resource_type](REGION, 1, {})
    leave(leaving.arn)
    found = collect(resource_type, REGION).resources
    assert kept.arn in found
    assert leaving.arn not in found
