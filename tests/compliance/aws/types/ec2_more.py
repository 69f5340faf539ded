"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py):
VPC networking, launch templates and AMIs, Auto Scaling groups, and Classic Load Balancers
(``make_classic_load_balancer``, for tests/compliance/aws/types/test_ec2_more_classic.py: the
generic case of ``elasticloadbalancing:loadbalancer`` lives in estate.py)."""

from __future__ import annotations

from contextlib import suppress

from botocore.exceptions import ClientError

from tests.compliance.aws.estate import (
    ACCOUNT,
    IMAGE_ID,
    Factory,
    Made,
    aws,
    default_subnets,
    ec2_arn,
    ec2_tags,
    tag_list,
)


def default_vpc(region: str) -> str:
    vpcs = aws("ec2", region).describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    return str(vpcs["Vpcs"][0]["VpcId"])


def make_network_interface(region: str, i: int, tags: dict[str, str]) -> Made:
    interface = aws("ec2", region).create_network_interface(
        SubnetId=default_subnets(region)[0], **ec2_tags("network-interface", tags)
    )["NetworkInterface"]
    interface_id = interface["NetworkInterfaceId"]
    return Made(
        ec2_arn(region, f"network-interface/{interface_id}"), tags.get("Name", interface_id)
    )


def make_vpc_endpoint(region: str, i: int, tags: dict[str, str]) -> Made:
    # moto cannot delete an endpoint created without a type, so the type is always given.
    endpoint = aws("ec2", region).create_vpc_endpoint(
        VpcId=default_vpc(region),
        ServiceName=f"com.amazonaws.{region}.s3",
        VpcEndpointType="Gateway",
        **ec2_tags("vpc-endpoint", tags),
    )["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    return Made(ec2_arn(region, f"vpc-endpoint/{endpoint_id}"), tags.get("Name", endpoint_id))


def make_transit_gateway(region: str, i: int, tags: dict[str, str]) -> Made:
    gateway = aws("ec2", region).create_transit_gateway(
        Description=f"finops-tgw-{i}", **ec2_tags("transit-gateway", tags)
    )["TransitGateway"]
    return Made(gateway["TransitGatewayArn"], tags.get("Name", gateway["TransitGatewayId"]))


def make_internet_gateway(region: str, i: int, tags: dict[str, str]) -> Made:
    gateway = aws("ec2", region).create_internet_gateway(**ec2_tags("internet-gateway", tags))[
        "InternetGateway"
    ]
    gateway_id = gateway["InternetGatewayId"]
    return Made(ec2_arn(region, f"internet-gateway/{gateway_id}"), tags.get("Name", gateway_id))


def make_route_table(region: str, i: int, tags: dict[str, str]) -> Made:
    table = aws("ec2", region).create_route_table(
        VpcId=default_vpc(region), **ec2_tags("route-table", tags)
    )["RouteTable"]
    table_id = table["RouteTableId"]
    return Made(ec2_arn(region, f"route-table/{table_id}"), tags.get("Name", table_id))


def make_launch_template(region: str, i: int, tags: dict[str, str]) -> Made:
    template = aws("ec2", region).create_launch_template(
        LaunchTemplateName=f"finops-template-{i}",
        LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.micro"},
        **ec2_tags("launch-template", tags),
    )["LaunchTemplate"]
    return Made(
        ec2_arn(region, f"launch-template/{template['LaunchTemplateId']}"),
        template["LaunchTemplateName"],
    )


def make_image(region: str, i: int, tags: dict[str, str]) -> Made:
    ec2 = aws("ec2", region)
    instance_id = ec2.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    image_id = ec2.create_image(
        InstanceId=instance_id, Name=f"finops-ami-{i}", **ec2_tags("image", tags)
    )["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    return Made(ec2_arn(region, f"image/{image_id}"), image["Name"])


GROUP_TEMPLATE = "finops-asg-template"


def make_auto_scaling_group(region: str, i: int, tags: dict[str, str]) -> Made:
    # One launch template for every group of a test: made with the first one.
    with suppress(ClientError):
        aws("ec2", region).create_launch_template(
            LaunchTemplateName=GROUP_TEMPLATE,
            LaunchTemplateData={"ImageId": IMAGE_ID, "InstanceType": "t3.micro"},
        )
    name = f"finops-asg-{i}"
    autoscaling = aws("autoscaling", region)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": GROUP_TEMPLATE},
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=default_subnets(region)[0],
        Tags=[{**tag, "PropagateAtLaunch": False} for tag in tag_list(tags)],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    return Made(group["AutoScalingGroupARN"], group["AutoScalingGroupName"])


def classic_load_balancer_arn(region: str, name: str) -> str:
    """DescribeLoadBalancers gives Classic Load Balancers no ARN: this is the form AWS documents
    (and its tagging API answers with)."""
    return f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/{name}"


def make_classic_load_balancer(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-classic-{i}"
    aws("elb", region).create_load_balancer(
        LoadBalancerName=name,
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
        AvailabilityZones=[f"{region}a"],
        **({"Tags": tag_list(tags)} if tags else {}),
    )
    described = aws("elb", region).describe_load_balancers(LoadBalancerNames=[name])
    return Made(
        classic_load_balancer_arn(region, name),
        described["LoadBalancerDescriptions"][0]["LoadBalancerName"],
    )


FACTORIES: dict[str, Factory] = {
    "ec2:network-interface": make_network_interface,
    "ec2:vpc-endpoint": make_vpc_endpoint,
    "ec2:transit-gateway": make_transit_gateway,
    "ec2:internet-gateway": make_internet_gateway,
    "ec2:route-table": make_route_table,
    "ec2:launch-template": make_launch_template,
    "ec2:image": make_image,
    "autoscaling:autoScalingGroup": make_auto_scaling_group,
}

PAGING: dict[str, tuple[str, int | None, bool]] = {
    # These four accept no page size under 5 (botocore validates it); moto ignores it anyway.
    "ec2:network-interface": ("ec2:DescribeNetworkInterfaces", 5, False),
    "ec2:transit-gateway": ("ec2:DescribeTransitGateways", 5, False),
    "ec2:internet-gateway": ("ec2:DescribeInternetGateways", 5, False),
    "ec2:route-table": ("ec2:DescribeRouteTables", 5, False),
    "ec2:vpc-endpoint": ("ec2:DescribeVpcEndpoints", 2, False),
    "ec2:image": ("ec2:DescribeImages", 2, False),
    # moto cuts DescribeLaunchTemplates at MaxResults without a NextToken, which would lose
    # templates: no size is forced here, and test_ec2_more_stubbed.py reads two pages instead.
    "ec2:launch-template": ("ec2:DescribeLaunchTemplates", None, False),
    "autoscaling:autoScalingGroup": ("autoscaling:DescribeAutoScalingGroups", 2, True),
}

#: Every type of this group is LISTED (its describe call returns its tags), and moto creates
#: them all.
TAGS_FROM_STUB: frozenset[str] = frozenset()
STUBBED: frozenset[str] = frozenset()
