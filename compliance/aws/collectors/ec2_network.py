"""VPC networking beyond ec2.py: network interfaces, VPC endpoints, transit gateways, internet
gateways and route tables.

Each type is listed with its own EC2 describe call, which returns every resource of the region,
tagged or not, with its tags (network interfaces call them ``TagSet``): one call per page, no tag
call. The describe calls do not return ARNs (transit gateways excepted), so they are built in the
form the Resource Groups Tagging API and the Cost and Usage Report use,
``arn:aws:ec2:REGION:ACCOUNT:TYPE/ID``. Left out: VPC endpoints and transit gateways being
deleted or deleted, and resources another account owns that show up here through VPC sharing or
Resource Access Manager (they are that account's inventory, under its ARN). Interfaces that AWS
services create in the account's subnets (load balancers, Lambda, NAT gateways...) are kept,
marked ``requester_managed``: they are the account's and can carry tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

#: Network interfaces, internet gateways and route tables have no deleting state: once deleted
#: they are no longer described. VPC endpoint states are documented capitalised ("Deleting") and
#: answered in lower case ("deleting"): compared in lower case.
_GONE_ENDPOINT_STATES = frozenset({"deleting", "deleted"})
_GONE_TRANSIT_GATEWAY_STATES = frozenset({"deleting", "deleted"})

_VPC_CONSOLE = "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}"


def _named(tags: dict[str, str], fallback: str) -> str:
    """EC2 has no names of its own: the console shows the ``Name`` tag (as in ec2.py)."""
    return tags.get("Name") or fallback


def _owned(scope: Scope, resource: dict[str, Any]) -> bool:
    """Whether the scanned account owns ``resource`` (VPC sharing and RAM show others' too)."""
    owner = resource.get("OwnerId")
    return not owner or owner == scope.account_id


def _instance_arn(scope: Scope, instance_id: str) -> str:
    return scope.arn("ec2", f"instance/{instance_id}")


def _network_interfaces(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for interface in items(ec2, "describe_network_interfaces", "NetworkInterfaces"):
        if not _owned(scope, interface):
            continue
        interface_id = interface["NetworkInterfaceId"]
        tags = tag_dict(interface.get("TagSet"))
        instance_id = (interface.get("Attachment") or {}).get("InstanceId")
        yield scope.resource(
            "ec2:network-interface",
            scope.arn("ec2", f"network-interface/{interface_id}"),
            _named(tags, interface_id),
            tags,
            attributes(
                state=interface.get("Status"),
                interface_type=interface.get("InterfaceType"),
                requester_managed=str(interface.get("RequesterManaged", False)).lower(),
                vpc_id=interface.get("VpcId"),
                subnet_id=interface.get("SubnetId"),
                parent_arn=_instance_arn(scope, instance_id) if instance_id else None,
            ),
        )


def _vpc_endpoints(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for endpoint in items(ec2, "describe_vpc_endpoints", "VpcEndpoints"):
        state = str(endpoint.get("State", "")).lower()
        if state in _GONE_ENDPOINT_STATES or not _owned(scope, endpoint):
            continue
        endpoint_id = endpoint["VpcEndpointId"]
        tags = tag_dict(endpoint.get("Tags"))
        yield scope.resource(
            "ec2:vpc-endpoint",
            scope.arn("ec2", f"vpc-endpoint/{endpoint_id}"),
            _named(tags, endpoint_id),
            tags,
            attributes(
                state=state,
                endpoint_type=endpoint.get("VpcEndpointType"),
                service_name=endpoint.get("ServiceName"),
                vpc_id=endpoint.get("VpcId"),
            ),
        )


def _transit_gateways(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for gateway in items(ec2, "describe_transit_gateways", "TransitGateways"):
        # A transit gateway shared through RAM is listed in the accounts it is shared with too.
        if gateway["State"] in _GONE_TRANSIT_GATEWAY_STATES or not _owned(scope, gateway):
            continue
        gateway_id = gateway["TransitGatewayId"]
        tags = tag_dict(gateway.get("Tags"))
        yield scope.resource(
            "ec2:transit-gateway",
            gateway.get("TransitGatewayArn") or scope.arn("ec2", f"transit-gateway/{gateway_id}"),
            _named(tags, gateway_id),
            tags,
            attributes(
                state=gateway["State"],
                amazon_side_asn=(gateway.get("Options") or {}).get("AmazonSideAsn"),
            ),
        )


def _internet_gateways(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for gateway in items(ec2, "describe_internet_gateways", "InternetGateways"):
        if not _owned(scope, gateway):
            continue
        gateway_id = gateway["InternetGatewayId"]
        tags = tag_dict(gateway.get("Tags"))
        # An internet gateway attaches to one VPC at most.
        attachment: dict[str, Any] = next(iter(gateway.get("Attachments") or ()), {})
        yield scope.resource(
            "ec2:internet-gateway",
            scope.arn("ec2", f"internet-gateway/{gateway_id}"),
            _named(tags, gateway_id),
            tags,
            attributes(
                # AWS reports an attached gateway's attachment as "available": the VPC id is
                # the plain sign of it.
                state="attached" if attachment.get("VpcId") else "detached",
                vpc_id=attachment.get("VpcId"),
            ),
        )


def _route_tables(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for table in items(ec2, "describe_route_tables", "RouteTables"):
        if not _owned(scope, table):
            continue
        table_id = table["RouteTableId"]
        tags = tag_dict(table.get("Tags"))
        main = any(association.get("Main") for association in table.get("Associations") or ())
        yield scope.resource(
            "ec2:route-table",
            scope.arn("ec2", f"route-table/{table_id}"),
            _named(tags, table_id),
            tags,
            attributes(vpc_id=table.get("VpcId"), main=str(main).lower()),
        )


COLLECTORS = (
    Collector(
        "ec2:network-interface",
        "ec2",
        ("ec2:DescribeNetworkInterfaces",),
        _network_interfaces,
        label="Network interface",
        list_call="ec2:DescribeNetworkInterfaces",
        console="https://{region}.console.aws.amazon.com/ec2/home?region={region}"
        "#NetworkInterface:networkInterfaceId={id}",
        custodian="aws.eni",
    ),
    Collector(
        "ec2:vpc-endpoint",
        "ec2",
        ("ec2:DescribeVpcEndpoints",),
        _vpc_endpoints,
        label="VPC endpoint",
        list_call="ec2:DescribeVpcEndpoints",
        console=_VPC_CONSOLE + "#EndpointDetails:vpcEndpointId={id}",
        custodian="aws.vpc-endpoint",
    ),
    Collector(
        "ec2:transit-gateway",
        "ec2",
        ("ec2:DescribeTransitGateways",),
        _transit_gateways,
        label="Transit gateway",
        list_call="ec2:DescribeTransitGateways",
        console=_VPC_CONSOLE + "#TransitGatewayDetails:transitGatewayId={id}",
        custodian="aws.transit-gateway",
    ),
    Collector(
        "ec2:internet-gateway",
        "ec2",
        ("ec2:DescribeInternetGateways",),
        _internet_gateways,
        label="Internet gateway",
        list_call="ec2:DescribeInternetGateways",
        console=_VPC_CONSOLE + "#InternetGateway:internetGatewayId={id}",
        custodian="aws.internet-gateway",
    ),
    Collector(
        "ec2:route-table",
        "ec2",
        ("ec2:DescribeRouteTables",),
        _route_tables,
        label="Route table",
        list_call="ec2:DescribeRouteTables",
        console=_VPC_CONSOLE + "#RouteTableDetails:RouteTableId={id}",
        custodian="aws.route-table",
    ),
)
