"""What moto cannot show for this group, against botocore's Stubber (which checks every request
and response against the service model): launch templates read page after page (moto drops
the rest of the list at MaxResults), and network resources another account owns (shared VPCs,
transit gateways shared through RAM) left out, whatever their answer's state is written in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.core import Scope

REGION = "eu-west-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ec2() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ec2", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def scope_of(client: Any) -> Scope:
    def clients(service: str, region: str) -> Any:
        assert (service, region) == ("ec2", REGION)
        return client

    return Scope(clients, ACCOUNT, REGION, REGION)


def template(i: int, tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "LaunchTemplateId": f"lt-0000000000000000{i}",
        "LaunchTemplateName": f"template-{i}",
        "CreateTime": CREATED,
        "DefaultVersionNumber": 1,
        "LatestVersionNumber": 2,
        **({"Tags": tags} if tags else {}),
    }


def test_launch_templates_are_read_page_after_page(
    ec2: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = ec2
    monkeypatch.setattr(core, "PAGE_SIZE", 2)
    tags = [{"Key": "Team", "Value": "web"}]
    stubber.add_response(
        "describe_launch_templates",
        {"LaunchTemplates": [template(0), template(1, tags)], "NextToken": "page-2"},
        {"MaxResults": 2},
    )
    stubber.add_response(
        "describe_launch_templates",
        {"LaunchTemplates": [template(2)]},
        {"MaxResults": 2, "NextToken": "page-2"},
    )
    found = {r.name: r for r in COLLECTORS["ec2:launch-template"].collect(scope_of(client))}
    assert sorted(found) == ["template-0", "template-1", "template-2"]
    assert found["template-1"].tags == {"Team": "web"}
    assert found["template-0"].tags == {}
    assert found["template-2"].arn == (
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/lt-00000000000000002"
    )
    assert found["template-2"].attributes == {"default_version": "1", "latest_version": "2"}


def _interface(owner: str, n: int) -> dict[str, Any]:
    return {"NetworkInterfaceId": f"eni-{n:017}", "OwnerId": owner, "Status": "in-use"}


def _endpoint(owner: str, n: int) -> dict[str, Any]:
    return {"VpcEndpointId": f"vpce-{n:017}", "OwnerId": owner, "State": "Available"}


def _transit_gateway(owner: str, n: int) -> dict[str, Any]:
    gateway_id = f"tgw-{n:017}"
    return {
        "TransitGatewayId": gateway_id,
        "TransitGatewayArn": f"arn:aws:ec2:{REGION}:{owner}:transit-gateway/{gateway_id}",
        "OwnerId": owner,
        "State": "available",
    }


def _internet_gateway(owner: str, n: int) -> dict[str, Any]:
    return {"InternetGatewayId": f"igw-{n:017}", "OwnerId": owner, "Attachments": []}


def _route_table(owner: str, n: int) -> dict[str, Any]:
    return {"RouteTableId": f"rtb-{n:017}", "OwnerId": owner, "VpcId": "vpc-1"}


#: type -> (describe operation, result key, one resource number ``n`` owned by an account)
SHARED = {
    "ec2:network-interface": ("describe_network_interfaces", "NetworkInterfaces", _interface),
    "ec2:vpc-endpoint": ("describe_vpc_endpoints", "VpcEndpoints", _endpoint),
    "ec2:transit-gateway": ("describe_transit_gateways", "TransitGateways", _transit_gateway),
    "ec2:internet-gateway": ("describe_internet_gateways", "InternetGateways", _internet_gateway),
    "ec2:route-table": ("describe_route_tables", "RouteTables", _route_table),
}


@pytest.mark.parametrize("resource_type", sorted(SHARED))
def test_another_accounts_network_resource_is_left_out(
    resource_type: str, ec2: tuple[Any, Stubber]
) -> None:
    client, stubber = ec2
    operation, key, make = SHARED[resource_type]
    own, shared = make(ACCOUNT, 1), make(OTHER_ACCOUNT, 2)
    stubber.add_response(operation, {key: [own, shared]}, {})
    found = list(COLLECTORS[resource_type].collect(scope_of(client)))
    assert [r.name for r in found] == [next(v for k, v in own.items() if k.endswith("Id"))]
    assert found[0].arn.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:")


def test_vpc_endpoint_states_are_read_whatever_their_case(ec2: tuple[Any, Stubber]) -> None:
    client, stubber = ec2
    endpoints = [
        {"VpcEndpointId": "vpce-1", "OwnerId": ACCOUNT, "State": "Available"},
        {"VpcEndpointId": "vpce-2", "OwnerId": ACCOUNT, "State": "Deleting"},
        {"VpcEndpointId": "vpce-3", "OwnerId": ACCOUNT, "State": "deleted"},
    ]
    stubber.add_response("describe_vpc_endpoints", {"VpcEndpoints": endpoints}, {})
    found = list(COLLECTORS["ec2:vpc-endpoint"].collect(scope_of(client)))
    assert [(r.name, r.attributes["state"]) for r in found] == [("vpce-1", "available")]
