"""Every collector against moto: untagged resources found, tags read, every page read, and
IAM actions declared exactly as called."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, FACTORIES

#: Not the default region, so a collector that ignores its region would show it.
REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Name": "tagged-one"}

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

#: The few operations whose IAM action has another name.
IAM_ACTION_OF = {"s3:ListBuckets": "s3:ListAllMyBuckets"}


def test_every_required_type_has_a_collector_and_a_test_case() -> None:
    assert len(RESOURCE_TYPES) == 25
    assert set(RESOURCE_TYPES) == set(FACTORIES) == set(PAGING)


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_a_never_tagged_resource_is_found(resource_type: str, collect: Collect) -> None:
    made = FACTORIES[resource_type](REGION, 0, {})
    found = collect(resource_type, REGION).resources[made.arn]
    assert (found.resource_type, found.account_id, found.region, found.name, found.tags) == (
        resource_type,
        ACCOUNT,
        REGION,
        made.name,
        {},
    )


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_a_tagged_resource_has_its_tags(resource_type: str, collect: Collect) -> None:
    made = FACTORIES[resource_type](REGION, 0, TAGS)
    found = collect(resource_type, REGION).resources[made.arn]
    assert (found.region, found.name, found.tags) == (REGION, made.name, TAGS)
    # Attributes are plain, non-empty strings, whatever type AWS gave them in.
    assert all(isinstance(v, str) and v for v in found.attributes.values())


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_every_page_is_read(
    resource_type: str, collect: Collect, page_size: Callable[[int | None], None]
) -> None:
    operation, size, moto_pages = PAGING[resource_type]
    count = 101 if resource_type == "sns:topic" else (size or 2) + 1
    made = {FACTORIES[resource_type](REGION, i, {}).arn for i in range(count)}
    page_size(size)
    collected = collect(resource_type, REGION)
    assert made <= set(collected.resources)
    if moto_pages:
        assert collected.calls[operation] >= 2


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_declared_iam_actions_are_exactly_the_calls_made(
    resource_type: str, collect: Collect
) -> None:
    FACTORIES[resource_type](REGION, 0, TAGS)
    FACTORIES[resource_type](REGION, 1, {})
    calls = collect(resource_type, REGION).calls
    assert {IAM_ACTION_OF.get(call, call) for call in calls} == set(
        COLLECTORS[resource_type].iam_actions
    )
