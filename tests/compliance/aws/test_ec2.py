"""EC2 specifics: what is left out, and the attributes other features rely on."""

from __future__ import annotations

from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import (
    IMAGE_ID,
    aws,
    ec2_arn,
    make_elastic_ip,
    make_instance,
    make_nat_gateway,
)

REGION = "us-east-1"


def test_terminated_instances_are_left_out(collect: Collect) -> None:
    kept = make_instance(REGION, 0, {})
    gone = make_instance(REGION, 1, {})
    aws("ec2", REGION).terminate_instances(InstanceIds=[gone.arn.rsplit("/", 1)[1]])
    found = collect("ec2:instance", REGION).resources
    assert set(found) == {kept.arn}


def test_an_instance_reports_state_type_and_vpc(collect: Collect) -> None:
    ec2 = aws("ec2", REGION)
    instance = ec2.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1, InstanceType="t3.small")[
        "Instances"
    ][0]
    found = collect("ec2:instance", REGION).resources
    arn = ec2_arn(REGION, f"instance/{instance['InstanceId']}")
    assert found[arn].attributes == {
        "state": "running",
        "instance_type": "t3.small",
        "vpc_id": instance["VpcId"],
    }


def test_an_attached_volume_points_to_its_instance(collect: Collect) -> None:
    instance = make_instance(REGION, 0, {})
    instance_id = instance.arn.rsplit("/", 1)[1]
    ec2 = aws("ec2", REGION)
    root = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )
    volume_id = root["Volumes"][0]["VolumeId"]
    loose_id = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    found = collect("ec2:volume", REGION).resources
    assert found[ec2_arn(REGION, f"volume/{volume_id}")].attributes["parent_arn"] == instance.arn
    assert "parent_arn" not in found[ec2_arn(REGION, f"volume/{loose_id}")].attributes


def test_an_associated_elastic_ip_points_to_its_instance(collect: Collect) -> None:
    instance = make_instance(REGION, 0, {})
    address = make_elastic_ip(REGION, 0, {})
    aws("ec2", REGION).associate_address(
        AllocationId=address.arn.rsplit("/", 1)[1], InstanceId=instance.arn.rsplit("/", 1)[1]
    )
    found = collect("ec2:elastic-ip", REGION).resources[address.arn]
    assert (found.attributes["state"], found.attributes["parent_arn"]) == (
        "associated",
        instance.arn,
    )


def test_deleted_nat_gateways_are_left_out(collect: Collect) -> None:
    kept = make_nat_gateway(REGION, 0, {})
    gone = make_nat_gateway(REGION, 1, {})
    aws("ec2", REGION).delete_nat_gateway(NatGatewayId=gone.arn.rsplit("/", 1)[1])
    found = collect("ec2:natgateway", REGION).resources
    assert set(found) == {kept.arn}


def test_a_security_group_without_name_tag_is_named_after_itself(collect: Collect) -> None:
    ec2 = aws("ec2", REGION)
    group_id = ec2.create_security_group(GroupName="web", Description="web tier")["GroupId"]
    found = collect("ec2:security-group", REGION).resources
    assert found[ec2_arn(REGION, f"security-group/{group_id}")].name == "web"
