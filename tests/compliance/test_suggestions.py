"""Tag suggestions: each source with its value, confidence and evidence; only valid values;
only for failing required tags; never a value from an account the viewer may not see."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from django.contrib.auth.models import User

from compliance.models import AwsAccount, Resource
from compliance.permissions.accounts import Operator
from compliance.reads.resources import AccountNotVisible
from compliance.reads.suggestions import (
    PARENT_CONFIDENCE,
    POLICY_WEIGHT,
    PRIOR,
    WEIGHTS,
    TagSuggestion,
    name_pattern,
    suggest_tags,
)
from compliance.scans import execute_scan
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY
from tests.conftest import grant

pytestmark = pytest.mark.django_db

A, B = "111111111111", "222222222222"
MOTO = "123456789012"
NOW = datetime(2024, 3, 1, tzinfo=UTC)

POLICY = json.dumps(
    {
        "version": "1.0",
        "required_tags": [
            {"name": "Owner", "validation_regex": r"^[a-z]+@example\.com$"},
            {"name": "Environment", "allowed_values": ["production", "staging"]},
            {"name": "CostCenter", "validation_regex": r"^CC-\d{4}$"},
        ],
    }
)


@pytest.fixture
def accounts(db: None) -> dict[str, AwsAccount]:
    do_import_policy(POLICY, acting=Operator())
    return {
        A: AwsAccount.objects.create(account_id=A, name="a"),
        B: AwsAccount.objects.create(account_id=B, name="b"),
    }


@pytest.fixture
def alice_on_a(alice: User, accounts: dict[str, AwsAccount]) -> User:
    grant(alice, accounts[A])
    return alice


_counter = iter(range(1, 100_000))


def make(
    account: AwsAccount,
    tags: dict[str, str] | None = None,
    *,
    name: str = "",
    resource_type: str = "ec2:instance",
    region: str = "us-east-1",
    **attributes: str,
) -> Resource:
    kind = resource_type.partition(":")[2]
    arn = f"arn:aws:ec2:{region}:{account.account_id}:{kind}/{kind[:3]}-{next(_counter):04d}"
    return Resource.objects.create(
        arn=arn,
        account=account,
        region=region,
        resource_type=resource_type,
        name=name,
        tags=tags or {},
        attributes=attributes,
        first_seen_at=NOW,
        last_seen_at=NOW,
    )


def brief(suggestions: list[TagSuggestion]) -> list[tuple[str, str, str, float]]:
    return [(s.tag_name, s.value, s.source, s.confidence) for s in suggestions]


def shrunk(weight: float, k: int, n: int) -> float:
    return round(weight * (k / n) * (n / (n + PRIOR)), 3)


GOOD = {"Owner": "ann@example.com", "Environment": "production", "CostCenter": "CC-1001"}


def test_parent_instance_gives_its_valid_tags_to_an_attached_volume(
    accounts: dict[str, AwsAccount],
) -> None:
    parent = make(accounts[A], {**GOOD, "CostCenter": "not-a-cost-center"})
    volume = make(accounts[A], resource_type="ec2:volume", parent_arn=parent.arn)
    suggestions = suggest_tags(Operator(), volume.arn)
    assert brief(suggestions) == [
        ("Owner", "ann@example.com", "parent", PARENT_CONFIDENCE),
        ("Environment", "production", "parent", PARENT_CONFIDENCE),
    ]
    parent_id = parent.arn.rsplit("/", 1)[-1]
    assert suggestions[0].evidence == [f"parent instance {parent_id} has Owner=ann@example.com"]


def test_stack_siblings_vote_and_the_majority_value_ranks_first(
    accounts: dict[str, AwsAccount],
) -> None:
    stack = {"aws:cloudformation:stack-name": "web-prod"}
    target = make(accounts[A], {**stack, "Owner": "ann@example.com", "Environment": "staging"})
    for _ in range(7):
        make(accounts[A], {**stack, "CostCenter": "CC-1001"})
    make(accounts[A], {"Stack": "web-prod", "CostCenter": "CC-1001"})  # the convention tag
    make(accounts[A], {**stack, "CostCenter": "CC-2002"})
    make(accounts[A], {**stack, "CostCenter": "CC-1001"}, region="eu-west-1")  # other region
    make(accounts[A], {"aws:cloudformation:stack-name": "other", "CostCenter": "CC-3003"})

    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [
        ("CostCenter", "CC-1001", "stack", shrunk(WEIGHTS["stack"], 8, 9)),
        ("CostCenter", "CC-2002", "stack", shrunk(WEIGHTS["stack"], 1, 9)),
    ]
    assert suggestions[0].evidence == [
        "8 of 9 resources in CloudFormation stack web-prod have CostCenter=CC-1001"
    ]
    assert suggestions[0].confidence == pytest.approx(0.633)


def test_values_the_policy_would_reject_are_never_suggested(
    accounts: dict[str, AwsAccount],
) -> None:
    target = make(accounts[A], {"Environment": "prod"}, vpc_id="vpc-0abc")  # invalid value
    for _ in range(5):
        make(
            accounts[A],
            {"Environment": "prod", "Owner": "Ann", "CostCenter": "cc-1"},
            vpc_id="vpc-0abc",
        )
    make(accounts[A], {"Environment": "staging"}, vpc_id="vpc-0abc")
    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [("Environment", "staging", "vpc", shrunk(WEIGHTS["vpc"], 1, 6))]
    assert suggestions[0].evidence == ["1 of 6 resources in vpc-0abc have Environment=staging"]


def test_vpc_neighbours_suggest_the_shared_value(accounts: dict[str, AwsAccount]) -> None:
    target = make(
        accounts[A], {"Owner": "ann@example.com", "CostCenter": "CC-1001"}, vpc_id="vpc-0abc"
    )
    for _ in range(12):
        make(
            accounts[A],
            {"Environment": "production"},
            vpc_id="vpc-0abc",
            resource_type="ec2:subnet",
        )
    for _ in range(2):
        make(accounts[A], {}, vpc_id="vpc-0abc")
    make(accounts[A], {"Environment": "staging"}, vpc_id="vpc-0def")
    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [
        ("Environment", "production", "vpc", shrunk(WEIGHTS["vpc"], 12, 14))
    ]
    assert suggestions[0].evidence == ["12 of 14 resources in vpc-0abc have Environment=production"]


def test_naming_family_suggests_its_value(accounts: dict[str, AwsAccount]) -> None:
    target = make(
        accounts[A], {"Owner": "ann@example.com", "CostCenter": "CC-1001"}, name="web-prod-03"
    )
    for number in (1, 2, 4, 5, 6):
        make(accounts[A], {"Environment": "production"}, name=f"web-prod-{number:02d}")
    make(accounts[A], {"Environment": "staging"}, name="web-prod-db")  # not of the family
    make(accounts[A], {"Environment": "staging"}, name="web-prod-07", resource_type="ec2:volume")
    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [
        ("Environment", "production", "name_pattern", shrunk(WEIGHTS["name_pattern"], 5, 5))
    ]
    assert suggestions[0].evidence == [
        "name 'web-prod-03' matches 'web-prod-*' whose resources have Environment=production "
        "(5 of 5)"
    ]


def test_sources_agreeing_keep_the_best_confidence_and_all_evidence(
    accounts: dict[str, AwsAccount],
) -> None:
    parent = make(accounts[A], {"Environment": "staging"})
    target = make(
        accounts[A],
        {"Owner": "ann@example.com", "CostCenter": "CC-1001"},
        resource_type="ec2:volume",
        parent_arn=parent.arn,
        vpc_id="vpc-0abc",
    )
    for _ in range(3):
        make(accounts[A], {"Environment": "production"}, vpc_id="vpc-0abc")
    make(accounts[A], {"Environment": "staging"}, vpc_id="vpc-0abc")
    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [
        ("Environment", "staging", "parent", PARENT_CONFIDENCE),
        ("Environment", "production", "vpc", shrunk(WEIGHTS["vpc"], 3, 4)),
    ]
    assert len(suggestions[0].evidence) == 2
    assert suggestions[0].evidence[1] == "1 of 4 resources in vpc-0abc have Environment=staging"


def test_policy_values_only_when_nothing_else_and_the_list_is_short(
    accounts: dict[str, AwsAccount],
) -> None:
    target = make(accounts[A], name="i-0123456789abcdef0")  # a bare id is no naming family
    make(accounts[A], {"Environment": "production"}, name="i-0123456789abcdef1")
    suggestions = suggest_tags(Operator(), target.arn)
    assert brief(suggestions) == [
        ("Environment", "production", "policy", round(POLICY_WEIGHT / 2, 3)),
        ("Environment", "staging", "policy", round(POLICY_WEIGHT / 2, 3)),
    ]
    assert "the policy allows 2 value(s) for Environment" in suggestions[0].evidence[0]


def test_no_suggestion_for_a_compliant_resource_or_valid_tags(
    accounts: dict[str, AwsAccount],
) -> None:
    compliant = make(accounts[A], dict(GOOD), vpc_id="vpc-0abc")
    make(accounts[A], {**GOOD, "Owner": "bob@example.com"}, vpc_id="vpc-0abc")
    assert suggest_tags(Operator(), compliant.arn) == []
    partly = make(
        accounts[A], {"Owner": "ann@example.com", "CostCenter": "CC-1001"}, vpc_id="vpc-0abc"
    )
    assert {s.tag_name for s in suggest_tags(Operator(), partly.arn)} == {"Environment"}


def test_values_of_invisible_accounts_never_reach_the_viewer(
    accounts: dict[str, AwsAccount], alice_on_a: User
) -> None:
    parent = make(accounts[B], dict(GOOD))
    target = make(
        accounts[A],
        {"CostCenter": "CC-1001"},
        resource_type="ec2:volume",
        parent_arn=parent.arn,
        vpc_id="vpc-0abc",
    )
    for _ in range(4):
        make(accounts[B], {"Owner": "bob@example.com", "Environment": "staging"}, vpc_id="vpc-0abc")
    make(accounts[A], {"Owner": "ann@example.com"}, vpc_id="vpc-0abc")

    mine = suggest_tags(alice_on_a, target.arn)
    assert brief(mine) == [
        ("Owner", "ann@example.com", "vpc", shrunk(WEIGHTS["vpc"], 1, 1)),
        ("Environment", "production", "policy", 0.15),
        ("Environment", "staging", "policy", 0.15),
    ]
    assert all("bob" not in e and "222222222222" not in e for s in mine for e in s.evidence)
    everything = suggest_tags(Operator(), target.arn)
    assert ("Owner", "ann@example.com", "parent", PARENT_CONFIDENCE) in brief(everything)
    assert ("Environment", "staging", "vpc", shrunk(WEIGHTS["vpc"], 4, 5)) in brief(everything)


def test_unknown_and_forbidden_arns_get_the_same_error(
    accounts: dict[str, AwsAccount], alice_on_a: User
) -> None:
    theirs = make(accounts[B])
    for arn in (theirs.arn, "arn:aws:ec2:us-east-1:111111111111:instance/i-none"):
        with pytest.raises(AccountNotVisible, match="not found or not visible to you"):
            suggest_tags(alice_on_a, arn)


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("web-prod-03", "web-prod-"),
        ("api-7f3a9c2e1b", "api-"),
        ("worker12", "worker"),
        ("database", None),
        ("web-prod", None),
        ("i-0123456789abcdef0", None),
        ("db-1", None),
        ("", None),
    ],
)
def test_name_pattern_strips_a_trailing_counter_or_id(name: str, pattern: str | None) -> None:
    assert name_pattern(name) == pattern


def test_real_scan_volume_gets_its_instance_tags(mocked_aws: None) -> None:
    do_add_account(account_id=MOTO, name="prod", regions=["us-east-1"], acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": "us-east-1a"},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Owner", "Value": "ann@example.com"},
                    {"Key": "Environment", "Value": "prod"},  # invalid: never suggested
                    {"Key": "Project", "Value": "x"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
    scan = do_request_scan(acting=Operator(), resource_types=["ec2:instance", "ec2:volume"])
    execute_scan(scan.pk)

    suggestions = suggest_tags(Operator(), f"arn:aws:ec2:us-east-1:{MOTO}:volume/{volume}")
    assert brief(suggestions)[0] == ("Owner", "ann@example.com", "parent", PARENT_CONFIDENCE)
    assert suggestions[0].evidence == [f"parent instance {instance} has Owner=ann@example.com"]
    assert all(s.value != "prod" for s in suggestions)
    # Project applies to instances only: a volume is never asked for one.
    assert all(s.tag_name != "Project" for s in suggestions)
