"""One way to create each resource type in moto, and what a collector should then report.

Each factory creates one resource through the real AWS API (moto), tagged only when given
tags, and returns the ARN and name taken from AWS's own answer where AWS returns them, so the
expected values do not come from the code under test.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from compliance.aws.base import AccountTarget
from compliance.aws.session import new_session

ACCOUNT = "123456789012"
#: moto does not check AMIs (MOTO_ENABLE_AMI_VALIDATION is off), so any well-formed id runs.
IMAGE_ID = "ami-12345678"


@dataclass(frozen=True)
class Made:
    arn: str
    name: str
    #: Where a scan files it, when not the region it was made in (global resources).
    region: str | None = None


Factory = Callable[[str, int, dict[str, str]], Made]


_clients: dict[tuple[str, str], Any] = {}


def aws(service: str, region: str) -> Any:
    """A client in the default account, made once per test (making one is not cheap)."""
    if (service, region) not in _clients:
        session = new_session(AccountTarget(ACCOUNT))
        _clients[service, region] = session.client(service, region_name=region)
    return _clients[service, region]


def forget_clients() -> None:
    _clients.clear()


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def ec2_tags(resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    """EC2's TagSpecifications keyword, or nothing at all for an untagged resource."""
    if not tags:
        return {}
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": tag_list(tags)}]}


def ec2_arn(region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:ec2:{region}:{account}:{resource}"


def default_subnets(region: str) -> list[str]:
    subnets = aws("ec2", region).describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}]
    )["Subnets"]
    return sorted(s["SubnetId"] for s in subnets)


def make_instance(region: str, i: int, tags: dict[str, str]) -> Made:
    instance = aws("ec2", region).run_instances(
        ImageId=IMAGE_ID, MinCount=1, MaxCount=1, **ec2_tags("instance", tags)
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    return Made(ec2_arn(region, f"instance/{instance_id}"), tags.get("Name", instance_id))


def make_volume(region: str, i: int, tags: dict[str, str]) -> Made:
    volume = aws("ec2", region).create_volume(
        AvailabilityZone=f"{region}a", Size=1, **ec2_tags("volume", tags)
    )
    volume_id = volume["VolumeId"]
    return Made(ec2_arn(region, f"volume/{volume_id}"), tags.get("Name", volume_id))


def make_snapshot(region: str, i: int, tags: dict[str, str]) -> Made:
    ec2 = aws("ec2", region)
    volume_id = ec2.create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"]
    snapshot_id = ec2.create_snapshot(VolumeId=volume_id, **ec2_tags("snapshot", tags))[
        "SnapshotId"
    ]
    return Made(ec2_arn(region, f"snapshot/{snapshot_id}"), tags.get("Name", snapshot_id))


def make_elastic_ip(region: str, i: int, tags: dict[str, str]) -> Made:
    address = aws("ec2", region).allocate_address(Domain="vpc", **ec2_tags("elastic-ip", tags))
    return Made(
        ec2_arn(region, f"elastic-ip/{address['AllocationId']}"),
        tags.get("Name", address["PublicIp"]),
    )


def make_nat_gateway(region: str, i: int, tags: dict[str, str]) -> Made:
    ec2 = aws("ec2", region)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    gateway = ec2.create_nat_gateway(
        SubnetId=default_subnets(region)[0], AllocationId=allocation, **ec2_tags("natgateway", tags)
    )["NatGateway"]
    gateway_id = gateway["NatGatewayId"]
    return Made(ec2_arn(region, f"natgateway/{gateway_id}"), tags.get("Name", gateway_id))


def make_vpc(region: str, i: int, tags: dict[str, str]) -> Made:
    vpc_id = aws("ec2", region).create_vpc(CidrBlock="10.0.0.0/16", **ec2_tags("vpc", tags))["Vpc"][
        "VpcId"
    ]
    return Made(ec2_arn(region, f"vpc/{vpc_id}"), tags.get("Name", vpc_id))


def make_subnet(region: str, i: int, tags: dict[str, str]) -> Made:
    ec2 = aws("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.0.0/24", **ec2_tags("subnet", tags))
    subnet_id = subnet["Subnet"]["SubnetId"]
    return Made(ec2_arn(region, f"subnet/{subnet_id}"), tags.get("Name", subnet_id))


def make_security_group(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-sg-{i}"
    group_id = aws("ec2", region).create_security_group(
        GroupName=name, Description="test", **ec2_tags("security-group", tags)
    )["GroupId"]
    return Made(ec2_arn(region, f"security-group/{group_id}"), tags.get("Name", name))


def make_bucket(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-{region}-bucket-{i}"
    s3 = aws("s3", region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
    return Made(f"arn:aws:s3:::{name}", name)


def make_db_instance(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-db-{i}"
    db = aws("rds", region).create_db_instance(
        DBInstanceIdentifier=name,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="finops",
        MasterUserPassword="not-a-secret-1",
        Tags=tag_list(tags),
    )["DBInstance"]
    return Made(db["DBInstanceArn"], name)


def make_db_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-cluster-{i}"
    cluster = aws("rds", region).create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        MasterUsername="finops",
        MasterUserPassword="not-a-secret-1",
        Tags=tag_list(tags),
    )["DBCluster"]
    return Made(cluster["DBClusterArn"], name)


@cache
def _function_code() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


def lambda_role() -> str:
    iam = aws("iam", "us-east-1")
    try:
        return str(
            iam.create_role(RoleName="finops-lambda", AssumeRolePolicyDocument=json.dumps({}))[
                "Role"
            ]["Arn"]
        )
    except ClientError:
        return str(iam.get_role(RoleName="finops-lambda")["Role"]["Arn"])


def make_function(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-function-{i}"
    function = aws("lambda", region).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(),
        Handler="handler.handle",
        Code={"ZipFile": _function_code()},
        Tags=tags,
    )
    return Made(function["FunctionArn"], name)


def make_table(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-table-{i}"
    table = aws("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **({"Tags": tag_list(tags)} if tags else {}),
    )["TableDescription"]
    return Made(table["TableArn"], name)


def ecs_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def make_ecs_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-ecs-{i}"
    cluster = aws("ecs", region).create_cluster(clusterName=name, tags=ecs_tags(tags))["cluster"]
    return Made(cluster["clusterArn"], name)


def make_ecs_service(region: str, i: int, tags: dict[str, str]) -> Made:
    ecs = aws("ecs", region)
    ecs.create_cluster(clusterName="finops-services")
    name = f"finops-service-{i}"
    service = ecs.create_service(
        cluster="finops-services", serviceName=name, desiredCount=0, tags=ecs_tags(tags)
    )["service"]
    return Made(service["serviceArn"], name)


def make_load_balancer(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-lb-{i}"
    balancer = aws("elbv2", region).create_load_balancer(
        Name=name, Subnets=default_subnets(region)[:2], **({"Tags": tag_list(tags)} if tags else {})
    )["LoadBalancers"][0]
    return Made(balancer["LoadBalancerArn"], name)


def make_queue(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-queue-{i}"
    sqs = aws("sqs", region)
    url = sqs.create_queue(QueueName=name, **({"tags": tags} if tags else {}))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return Made(arn["QueueArn"], name)


def make_topic(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-topic-{i}"
    arn = aws("sns", region).create_topic(Name=name, **({"Tags": tag_list(tags)} if tags else {}))[
        "TopicArn"
    ]
    return Made(arn, name)


def make_repository(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-repo-{i}"
    repository = aws("ecr", region).create_repository(
        repositoryName=name, **({"tags": tag_list(tags)} if tags else {})
    )["repository"]
    return Made(repository["repositoryArn"], name)


def make_log_group(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"/finops/group-{i}"
    aws("logs", region).create_log_group(logGroupName=name, **({"tags": tags} if tags else {}))
    return Made(f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}", name)


def make_stream(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-stream-{i}"
    kinesis = aws("kinesis", region)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    if tags:
        kinesis.add_tags_to_stream(StreamName=name, Tags=tags)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return Made(summary["StreamARN"], name)


def make_file_system(region: str, i: int, tags: dict[str, str]) -> Made:
    fs = aws("efs", region).create_file_system(
        CreationToken=f"finops-fs-{i}", **({"Tags": tag_list(tags)} if tags else {})
    )
    return Made(fs["FileSystemArn"], tags.get("Name", fs["FileSystemId"]))


def make_cache_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-cache-{i}"
    cluster = aws("elasticache", region).create_cache_cluster(
        CacheClusterId=name,
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheNodes=1,
        **({"Tags": tag_list(tags)} if tags else {}),
    )["CacheCluster"]
    return Made(cluster["ARN"], name)


def make_eks_cluster(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-eks-{i}"
    cluster = aws("eks", region).create_cluster(
        name=name,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/finops-eks",
        resourcesVpcConfig={"subnetIds": default_subnets(region)[:2]},
        **({"tags": tags} if tags else {}),
    )["cluster"]
    return Made(cluster["arn"], name)


def make_domain(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-domain-{i}"
    domain = aws("opensearch", region).create_domain(
        DomainName=name, **({"TagList": tag_list(tags)} if tags else {})
    )["DomainStatus"]
    return Made(domain["ARN"], name)


FACTORIES: dict[str, Factory] = {
    "ec2:instance": make_instance,
    "ec2:volume": make_volume,
    "ec2:snapshot": make_snapshot,
    "ec2:elastic-ip": make_elastic_ip,
    "ec2:natgateway": make_nat_gateway,
    "ec2:vpc": make_vpc,
    "ec2:subnet": make_subnet,
    "ec2:security-group": make_security_group,
    "s3:bucket": make_bucket,
    "rds:db": make_db_instance,
    "rds:cluster": make_db_cluster,
    "lambda:function": make_function,
    "dynamodb:table": make_table,
    "ecs:cluster": make_ecs_cluster,
    "ecs:service": make_ecs_service,
    "elasticloadbalancing:loadbalancer": make_load_balancer,
    "sqs:queue": make_queue,
    "sns:topic": make_topic,
    "ecr:repository": make_repository,
    "logs:log-group": make_log_group,
    "kinesis:stream": make_stream,
    "elasticfilesystem:file-system": make_file_system,
    "elasticache:cluster": make_cache_cluster,
    "eks:cluster": make_eks_cluster,
    "es:domain": make_domain,
}

#: Per type: the list call that pages, the page size to force (None: AWS decides, or the call
#: has no pagination at all) and whether moto honours that page size. Where it does not, the
#: collector still goes through botocore's paginator with the forced size, and the test proves
#: that every item comes back.
PAGING: dict[str, tuple[str, int | None, bool]] = {
    "ec2:instance": ("ec2:DescribeInstances", 2, True),
    "ec2:volume": ("ec2:DescribeVolumes", 2, False),
    "ec2:snapshot": ("ec2:DescribeSnapshots", 2, False),
    # DescribeAddresses has no pagination in AWS: one call returns every address.
    "ec2:elastic-ip": ("ec2:DescribeAddresses", None, False),
    # These four accept no page size under 5 (botocore validates it); moto ignores it anyway.
    "ec2:natgateway": ("ec2:DescribeNatGateways", 5, False),
    "ec2:vpc": ("ec2:DescribeVpcs", 5, False),
    "ec2:subnet": ("ec2:DescribeSubnets", 5, False),
    "ec2:security-group": ("ec2:DescribeSecurityGroups", 5, False),
    # moto cuts ListBuckets at MaxBuckets without a ContinuationToken, which would lose buckets:
    # the collector's own page size (10,000) is used instead.
    "s3:bucket": ("s3:ListBuckets", None, False),
    "rds:db": ("rds:DescribeDBInstances", 2, True),
    "rds:cluster": ("rds:DescribeDBClusters", 2, False),
    "lambda:function": ("lambda:ListFunctions", 2, False),
    "dynamodb:table": ("dynamodb:ListTables", 2, True),
    "ecs:cluster": ("ecs:ListClusters", 2, False),
    "ecs:service": ("ecs:ListServices", 2, False),
    "elasticloadbalancing:loadbalancer": ("elasticloadbalancing:DescribeLoadBalancers", 2, True),
    "sqs:queue": ("sqs:ListQueues", 2, True),
    # SNS pages ListTopics by 100 and takes no page size: 101 topics make two pages.
    "sns:topic": ("sns:ListTopics", None, True),
    "ecr:repository": ("ecr:DescribeRepositories", 2, False),
    "logs:log-group": ("logs:DescribeLogGroups", 2, True),
    "kinesis:stream": ("kinesis:ListStreams", 2, False),
    "elasticfilesystem:file-system": ("elasticfilesystem:DescribeFileSystems", 2, True),
    "elasticache:cluster": ("elasticache:DescribeCacheClusters", 2, True),
    "eks:cluster": ("eks:ListClusters", 2, True),
    # ListDomainNames has no pagination in AWS: one call returns every domain.
    "es:domain": ("es:ListDomainNames", None, False),
}

#: Types whose tags come from the tagging API but whose moto backend does not answer
#: GetResources: their GetResources answer is given with botocore's Stubber (the tags the test
#: created them with), while discovery still runs against moto.
TAGS_FROM_STUB: frozenset[str] = frozenset(
    {
        # moto 5.2.5's ECR, Kinesis and OpenSearch backends do not take part in its tagging API.
        "ecr:repository",
        "es:domain",
        "kinesis:stream",
    }
)

#: Types moto cannot create: tested against botocore's Stubber in their own test module.
STUBBED: frozenset[str] = frozenset()
