"""Every collector against moto: untagged resources found, tags read, every page read, and
IAM actions declared exactly as called."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from compliance.aws.collectors.core import TAGGING_API_ACTION, TagSource
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT
from tests.compliance.aws.types import FACTORIES, PAGING, STUBBED

#: The types created in moto here; the others (moto cannot create them) have tests of their
#: own against botocore's Stubber, in tests/compliance/aws/types/.
MOTO_TYPES = sorted(FACTORIES)

#: Not the default region, so a collector that ignores its region would show it.
REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Name": "tagged-one"}

#: The few operations whose IAM action has another name.
IAM_ACTION_OF = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "tagging:GetResources": "tag:GetResources",
    # API Gateway's IAM actions are its HTTP methods: every read is apigateway:GET.
    "apigateway:GetRestApis": "apigateway:GET",
    "apigateway:GetApis": "apigateway:GET",
    # CloudWatch signs as "monitoring".
    "monitoring:DescribeAlarms": "cloudwatch:DescribeAlarms",
}


def test_every_type_has_a_collector_and_a_test_case() -> None:
    assert set(RESOURCE_TYPES) == set(FACTORIES) | STUBBED
    assert not set(FACTORIES) & STUBBED
    assert set(FACTORIES) == set(PAGING)


@pytest.mark.parametrize("resource_type", RESOURCE_TYPES)
def test_every_type_is_a_complete_row(resource_type: str) -> None:
    row = COLLECTORS[resource_type]
    service, _, kind = resource_type.partition(":")
    assert service
    assert kind
    assert " " not in resource_type
    assert row.label
    assert row.console
    assert row.custodian
    assert row.list_call in row.iam_actions
    assert row.console.startswith("https://")
    assert (TAGGING_API_ACTION in row.iam_actions) == (row.tags is TagSource.TAGGING_API)


@pytest.mark.parametrize("resource_type", MOTO_TYPES)
def test_a_never_tagged_resource_is_found(resource_type: str, collect: Collect) -> None:
    made = FACTORIES[resource_type](REGION, 0, {})
    found = collect(resource_type, REGION, tagging={}).resources[made.arn]
    assert (found.resource_type, found.account_id, found.region, found.name, found.tags) == (
        resource_type,
        ACCOUNT,
        made.region or REGION,
        made.name,
        {},
    )


@pytest.mark.parametrize("resource_type", MOTO_TYPES)
def test_a_tagged_resource_has_its_tags(resource_type: str, collect: Collect) -> None:
    made = FACTORIES[resource_type](REGION, 0, TAGS)
    found = collect(resource_type, REGION, tagging={made.arn: TAGS}).resources[made.arn]
    assert (found.region, found.name, found.tags) == (made.region or REGION, made.name, TAGS)
    # Attributes are plain, non-empty strings, whatever type AWS gave them in.
    assert all(isinstance(v, str) and v for v in found.attributes.values())


@pytest.mark.parametrize("resource_type", MOTO_TYPES)
def test_every_page_is_read(
    resource_type: str, collect: Collect, page_size: Callable[[int | None], None]
) -> None:
    operation, size, moto_pages = PAGING[resource_type]
    count = 101 if resource_type == "sns:topic" else (size or 2) + 1
    made = {FACTORIES[resource_type](REGION, i, {}).arn for i in range(count)}
    page_size(size)
    collected = collect(resource_type, REGION, tagging={})
    assert made <= set(collected.resources)
    if moto_pages:
        assert collected.calls[operation] >= 2


@pytest.mark.parametrize("resource_type", MOTO_TYPES)
def test_declared_iam_actions_are_exactly_the_calls_made(
    resource_type: str, collect: Collect
) -> None:
    made = FACTORIES[resource_type](REGION, 0, TAGS)
    FACTORIES[resource_type](REGION, 1, {})
    calls = collect(resource_type, REGION, tagging={made.arn: TAGS}).calls
    assert {IAM_ACTION_OF.get(call, call) for call in calls} == set(
        COLLECTORS[resource_type].iam_actions
    )
