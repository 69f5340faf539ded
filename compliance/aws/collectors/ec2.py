"""EC2 and VPC resources: instances, EBS volumes and snapshots, Elastic IPs, NAT gateways,
VPCs, subnets and security groups. Every EC2 describe call lists never-tagged resources too and
returns each one's tags inline, so tags cost no call of their own: one call per page. Left out:
instances shutting down or terminated, volumes and NAT gateways being deleted or deleted, and
snapshots other accounts own (public or shared ones).

EC2 ARNs are built here because the describe calls do not return them. They all carry the
account id, snapshots included: IAM's reference omits the account from snapshot ARNs, but the
Resource Groups Tagging API and Cost and Usage Report line items include it, and costs are joined
to resources by ARN.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

#: Instances in these states are gone or going; terminated ones stay listed for about an hour.
_GONE_INSTANCE_STATES = frozenset({"shutting-down", "terminated"})
_GONE_VOLUME_STATES = frozenset({"deleting", "deleted"})
_GONE_NAT_STATES = frozenset({"deleting", "deleted"})
_ATTACHED_STATES = frozenset({"attaching", "attached"})


def _named(tags: dict[str, str], fallback: str) -> str:
    """EC2 has no names of its own: the console shows the ``Name`` tag."""
    return tags.get("Name") or fallback


def _instance_arn(scope: Scope, instance_id: str) -> str:
    return scope.arn("ec2", f"instance/{instance_id}")


def _instances(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for reservation in items(ec2, "describe_instances", "Reservations"):
        for instance in reservation["Instances"]:
            state = instance["State"]["Name"]
            if state in _GONE_INSTANCE_STATES:
                continue
            tags = tag_dict(instance.get("Tags"))
            yield scope.resource(
                "ec2:instance",
                _instance_arn(scope, instance["InstanceId"]),
                _named(tags, instance["InstanceId"]),
                tags,
                attributes(
                    state=state,
                    instance_type=instance.get("InstanceType"),
                    vpc_id=instance.get("VpcId"),
                ),
            )


def _attached_instance(volume: dict[str, Any]) -> str | None:
    for attachment in volume.get("Attachments", []):
        if attachment.get("State") in _ATTACHED_STATES and attachment.get("InstanceId"):
            return str(attachment["InstanceId"])
    return None


def _volumes(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for volume in items(ec2, "describe_volumes", "Volumes"):
        if volume["State"] in _GONE_VOLUME_STATES:
            continue
        tags = tag_dict(volume.get("Tags"))
        instance_id = _attached_instance(volume)
        yield scope.resource(
            "ec2:volume",
            scope.arn("ec2", f"volume/{volume['VolumeId']}"),
            _named(tags, volume["VolumeId"]),
            tags,
            attributes(
                state=volume["State"],
                volume_type=volume.get("VolumeType"),
                parent_arn=_instance_arn(scope, instance_id) if instance_id else None,
            ),
        )


def _snapshots(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    # Without OwnerIds the call also lists every public and shared snapshot in the region. The
    # owner-id filter says the same again for endpoints that ignore OwnerIds (moto lists the
    # snapshots behind its public AMIs as the caller's own).
    own = [{"Name": "owner-id", "Values": [scope.account_id]}]
    for snapshot in items(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=own):
        tags = tag_dict(snapshot.get("Tags"))
        yield scope.resource(
            "ec2:snapshot",
            scope.arn("ec2", f"snapshot/{snapshot['SnapshotId']}"),
            _named(tags, snapshot["SnapshotId"]),
            tags,
            attributes(state=snapshot.get("State"), volume_id=snapshot.get("VolumeId")),
        )


def _elastic_ips(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    # DescribeAddresses has no pagination: one call returns every address in the region.
    for address in ec2.describe_addresses().get("Addresses", []):
        tags = tag_dict(address.get("Tags"))
        allocation = address.get("AllocationId") or address["PublicIp"]
        instance_id = address.get("InstanceId")
        yield scope.resource(
            "ec2:elastic-ip",
            scope.arn("ec2", f"elastic-ip/{allocation}"),
            _named(tags, address.get("PublicIp") or allocation),
            tags,
            attributes(
                # An unassociated address is billed while it does nothing: worth seeing.
                state="associated" if address.get("AssociationId") else "unassociated",
                public_ip=address.get("PublicIp"),
                parent_arn=_instance_arn(scope, instance_id) if instance_id else None,
            ),
        )


def _nat_gateways(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for gateway in items(ec2, "describe_nat_gateways", "NatGateways"):
        if gateway["State"] in _GONE_NAT_STATES:
            continue
        tags = tag_dict(gateway.get("Tags"))
        yield scope.resource(
            "ec2:natgateway",
            scope.arn("ec2", f"natgateway/{gateway['NatGatewayId']}"),
            _named(tags, gateway["NatGatewayId"]),
            tags,
            attributes(
                state=gateway["State"],
                vpc_id=gateway.get("VpcId"),
                subnet_id=gateway.get("SubnetId"),
            ),
        )


def _vpcs(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for vpc in items(ec2, "describe_vpcs", "Vpcs"):
        tags = tag_dict(vpc.get("Tags"))
        yield scope.resource(
            "ec2:vpc",
            scope.arn("ec2", f"vpc/{vpc['VpcId']}"),
            _named(tags, vpc["VpcId"]),
            tags,
            attributes(
                state=vpc.get("State"),
                vpc_id=vpc["VpcId"],
                is_default=str(vpc.get("IsDefault", False)).lower(),
            ),
        )


def _subnets(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for subnet in items(ec2, "describe_subnets", "Subnets"):
        tags = tag_dict(subnet.get("Tags"))
        yield scope.resource(
            "ec2:subnet",
            scope.arn("ec2", f"subnet/{subnet['SubnetId']}"),
            _named(tags, subnet["SubnetId"]),
            tags,
            attributes(
                state=subnet.get("State"),
                vpc_id=subnet.get("VpcId"),
                availability_zone=subnet.get("AvailabilityZone"),
            ),
        )


def _security_groups(scope: Scope) -> Iterator[DiscoveredResource]:
    ec2 = scope.client("ec2")
    for group in items(ec2, "describe_security_groups", "SecurityGroups"):
        tags = tag_dict(group.get("Tags"))
        yield scope.resource(
            "ec2:security-group",
            scope.arn("ec2", f"security-group/{group['GroupId']}"),
            # Security groups, unlike other EC2 resources, have a name of their own.
            _named(tags, group.get("GroupName") or group["GroupId"]),
            tags,
            attributes(vpc_id=group.get("VpcId")),
        )


#: The EC2 console's page for one resource; VPC resources live in the VPC console.
_EC2_CONSOLE = "https://{region}.console.aws.amazon.com/ec2/home?region={region}#"
_VPC_CONSOLE = "https://{region}.console.aws.amazon.com/vpcconsole/home?region={region}#"

COLLECTORS = (
    Collector(
        "ec2:instance",
        "ec2",
        ("ec2:DescribeInstances",),
        _instances,
        label="EC2 instance",
        list_call="ec2:DescribeInstances",
        console=_EC2_CONSOLE + "InstanceDetails:instanceId={id}",
        custodian="aws.ec2",
    ),
    Collector(
        "ec2:volume",
        "ec2",
        ("ec2:DescribeVolumes",),
        _volumes,
        label="EBS volume",
        list_call="ec2:DescribeVolumes",
        console=_EC2_CONSOLE + "VolumeDetails:volumeId={id}",
        custodian="aws.ebs",
    ),
    Collector(
        "ec2:snapshot",
        "ec2",
        ("ec2:DescribeSnapshots",),
        _snapshots,
        label="EBS snapshot",
        list_call="ec2:DescribeSnapshots",
        console=_EC2_CONSOLE + "SnapshotDetails:snapshotId={id}",
        custodian="aws.ebs-snapshot",
    ),
    Collector(
        "ec2:elastic-ip",
        "ec2",
        ("ec2:DescribeAddresses",),
        _elastic_ips,
        label="Elastic IP address",
        list_call="ec2:DescribeAddresses",
        console=_EC2_CONSOLE + "ElasticIpDetails:AllocationId={id}",
        custodian="aws.elastic-ip",
    ),
    Collector(
        "ec2:natgateway",
        "ec2",
        ("ec2:DescribeNatGateways",),
        _nat_gateways,
        label="NAT gateway",
        list_call="ec2:DescribeNatGateways",
        console=_VPC_CONSOLE + "NatGatewayDetails:natGatewayId={id}",
        custodian="aws.nat-gateway",
    ),
    Collector(
        "ec2:vpc",
        "ec2",
        ("ec2:DescribeVpcs",),
        _vpcs,
        label="VPC",
        list_call="ec2:DescribeVpcs",
        console=_VPC_CONSOLE + "VpcDetails:VpcId={id}",
        custodian="aws.vpc",
    ),
    Collector(
        "ec2:subnet",
        "ec2",
        ("ec2:DescribeSubnets",),
        _subnets,
        label="Subnet",
        list_call="ec2:DescribeSubnets",
        console=_VPC_CONSOLE + "SubnetDetails:subnetId={id}",
        custodian="aws.subnet",
    ),
    Collector(
        "ec2:security-group",
        "ec2",
        ("ec2:DescribeSecurityGroups",),
        _security_groups,
        label="Security group",
        list_call="ec2:DescribeSecurityGroups",
        console=_EC2_CONSOLE + "SecurityGroup:groupId={id}",
        custodian="aws.security-group",
    ),
)
