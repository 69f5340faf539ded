"""Reaching an account: client settings, assumed roles, identity checks, regions."""

from __future__ import annotations

import boto3
import pytest
from botocore.credentials import RefreshableCredentials
from moto.sts.models import sts_backends

from compliance.aws import required_iam_actions
from compliance.aws.base import AccountTarget
from compliance.aws.collectors import COLLECTORS
from compliance.aws.collectors.core import Scope, partition_for
from compliance.aws.session import (
    ROLE_SESSION_NAME,
    AccountMismatchError,
    ClientFactory,
    client,
    enabled_regions,
    home_region,
    new_session,
    verify_account,
)
from tests.compliance.aws.estate import ACCOUNT

OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/FinopsReader"


def test_clients_retry_adaptively_with_timeouts_and_our_user_agent(aws: None) -> None:
    made = client(boto3.session.Session(), "sqs", "eu-west-1")
    config = made.meta.config
    assert made.meta.region_name == "eu-west-1"
    assert config.retries["mode"] == "adaptive"
    # botocore keeps max_attempts (retries) as total attempts: the first call plus 10 retries.
    assert (config.retries["total_max_attempts"], config.connect_timeout, config.read_timeout) == (
        11,
        10,
        60,
    )
    assert config.user_agent_extra == "finops-tag-compliance"


def test_client_settings_can_be_overridden(aws: None) -> None:
    config = client(
        boto3.session.Session(), "sqs", "eu-west-1", max_attempts=3, read_timeout=5
    ).meta.config
    assert (config.retries["total_max_attempts"], config.read_timeout) == (4, 5)


def test_without_a_role_the_default_credentials_are_used(aws: None) -> None:
    session = new_session(AccountTarget(ACCOUNT))
    assert session.get_credentials().method == "env"


def test_a_role_is_assumed_with_its_external_id(aws: None) -> None:
    session = new_session(AccountTarget(OTHER_ACCOUNT, role_arn=ROLE, external_id="ext-42"))
    identity = session.client("sts", region_name="us-east-1").get_caller_identity()
    assert identity["Account"] == OTHER_ACCOUNT
    (assumed,) = sts_backends[OTHER_ACCOUNT]["aws"].assumed_roles
    assert (assumed.role_arn, assumed.external_id, assumed.session_name) == (
        ROLE,
        "ext-42",
        ROLE_SESSION_NAME,
    )


def test_assumed_credentials_refresh_themselves(aws: None) -> None:
    session = new_session(AccountTarget(OTHER_ACCOUNT, role_arn=ROLE))
    credentials = session.get_credentials()
    # botocore renews refreshable credentials shortly before they expire; static ones never.
    assert isinstance(credentials, RefreshableCredentials)
    assert credentials.method == "finops-assume-role"


def test_the_assumed_session_keeps_the_home_region(aws: None) -> None:
    session = new_session(AccountTarget(OTHER_ACCOUNT, role_arn=ROLE, regions=("eu-west-1",)))
    assert session.region_name == "us-east-1"  # AWS_DEFAULT_REGION comes first


def test_credentials_in_the_expected_account_pass(aws: None) -> None:
    verify_account(new_session(AccountTarget(ACCOUNT)), ACCOUNT, "us-east-1")


def test_credentials_in_another_account_are_refused(aws: None) -> None:
    with pytest.raises(AccountMismatchError, match="not to account 999999999999"):
        verify_account(new_session(AccountTarget(ACCOUNT)), "999999999999", "us-east-1")


def test_enabled_regions_are_sorted_and_include_the_usual_ones(aws: None) -> None:
    regions = enabled_regions(new_session(AccountTarget(ACCOUNT)))
    assert regions == tuple(sorted(regions))
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(regions)


def test_home_region_falls_back_to_the_accounts_first_region(
    monkeypatch: pytest.MonkeyPatch, aws: None
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    session = boto3.session.Session()
    assert home_region(session, AccountTarget(ACCOUNT, regions=("cn-north-1",))) == "cn-north-1"
    assert home_region(session, AccountTarget(ACCOUNT)) == "us-east-1"


def test_a_client_factory_makes_each_client_once(aws: None) -> None:
    clients = ClientFactory(new_session(AccountTarget(ACCOUNT)))
    assert clients("sqs", "eu-west-1") is clients("sqs", "eu-west-1")
    assert clients("sqs", "eu-west-1") is not clients("sqs", "us-east-1")


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_follows_the_region(region: str, partition: str) -> None:
    assert partition_for(region) == partition


def test_arns_in_china_use_the_china_partition() -> None:
    scope = Scope(lambda service, region: None, ACCOUNT, "cn-north-1", "cn-north-1")
    assert scope.arn("ec2", "vpc/vpc-1") == f"arn:aws-cn:ec2:cn-north-1:{ACCOUNT}:vpc/vpc-1"


def test_required_iam_actions_cover_the_session_and_every_collector() -> None:
    actions = required_iam_actions()
    assert actions == sorted(set(actions))
    assert {"sts:AssumeRole", "sts:GetCallerIdentity", "ec2:DescribeRegions"} <= set(actions)
    for collector in COLLECTORS.values():
        assert set(collector.iam_actions) <= set(actions)
    # Read-only: nothing that creates, changes or deletes.
    verbs = {action.split(":")[1] for action in actions} - {"AssumeRole"}
    # (API Gateway's actions are HTTP methods: GET reads.)
    assert all(v.startswith(("Describe", "Get", "List", "BatchGet")) or v == "GET" for v in verbs)
