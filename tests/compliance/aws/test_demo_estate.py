"""The demo estate: big and varied enough to demo every feature, and its manifest exact.

Tag shapes are checked directly (which keys, which values), not through the policy engine, so
these tests say what the estate contains whatever the engine decides about it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from compliance.demo.estate import (
    CLOUDFORMATION_STACK_TAG,
    RESOURCE_TYPES,
    DemoEstate,
    SeededResource,
    seed_demo_estate,
)

MAIN = "123456789012"
SECOND = "210987654321"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")

# The sample policy's rules, restated so the tests do not depend on the policy engine.
REQUIRED = ("Owner", "CostCenter", "Environment")
COST_CENTERS = {"CC-1001", "CC-1002", "CC-2001", "CC-3001"}
ENVIRONMENTS = {"production", "staging", "development", "sandbox"}
OWNER = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|team-[a-z0-9-]+")
PROJECT_TYPES = {"ec2:instance", "rds:db", "lambda:function", "s3:bucket"}


@pytest.fixture(scope="class")
def seeded() -> Iterator[tuple[DemoEstate, list[str]]]:
    """One estate for :class:`TestSampleEstate` (seeding takes seconds), and its progress lines.

    moto's default AMIs stay loaded, as in the demo: their snapshots must not leak in.
    """
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
            env.delenv(name, raising=False)
        env.delenv("MOTO_EC2_LOAD_DEFAULT_AMIS", raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        with mock_aws():
            messages: list[str] = []
            yield seed_demo_estate(progress=messages.append), messages


@pytest.fixture
def estate(seeded: tuple[DemoEstate, list[str]]) -> DemoEstate:
    return seeded[0]


def arns(resources: list[SeededResource]) -> set[str]:
    return {r.arn for r in resources}


def case_variant(tags: dict[str, str], key: str) -> str | None:
    """A key spelled like ``key`` in another letter case, when ``key`` itself is absent."""
    if key in tags:
        return None
    return next((k for k in tags if k.lower() == key.lower()), None)


def fully_compliant(resource: SeededResource) -> bool:
    tags = resource.tags
    required = [*REQUIRED, "Project"] if resource.resource_type in PROJECT_TYPES else REQUIRED
    return (
        all(key in tags for key in required)
        and OWNER.fullmatch(tags["Owner"]) is not None
        and tags["CostCenter"] in COST_CENTERS
        and tags["Environment"] in ENVIRONMENTS
    )


class TestSampleEstate:
    """What the default estate holds. The class scopes one seeded moto to these tests only,
    so the tests below it can start moto afresh."""

    def test_has_a_few_hundred_resources(self, estate: DemoEstate) -> None:
        assert 350 <= len(estate.resources) <= 500

    def test_resources_are_unique_by_arn(self, estate: DemoEstate) -> None:
        assert len({r.arn for r in estate.resources}) == len(estate.resources)

    def test_spans_three_regions_in_each_account(self, estate: DemoEstate) -> None:
        assert estate.regions == REGIONS
        # IAM is global: its roles are filed under "global".
        assert {(r.account_id, r.region) for r in estate.resources} == {
            (account, region) for account in (MAIN, SECOND) for region in (*REGIONS, "global")
        }

    def test_second_account_is_smaller(self, estate: DemoEstate) -> None:
        counts = estate.count_by("account_id")
        assert estate.accounts == (MAIN, SECOND)
        assert 25 <= counts[SECOND] <= 80
        assert counts[MAIN] > 4 * counts[SECOND]

    def test_covers_every_resource_type(self, estate: DemoEstate) -> None:
        assert len(RESOURCE_TYPES) >= 12
        assert set(estate.count_by("resource_type")) == set(RESOURCE_TYPES)

    def test_every_type_has_never_tagged_resources(self, estate: DemoEstate) -> None:
        untagged = {r.resource_type for r in estate.resources if not r.tags}
        assert untagged == set(RESOURCE_TYPES)

    def test_has_resources_missing_a_required_tag(self, estate: DemoEstate) -> None:
        missing = Counter(
            key
            for r in estate.resources
            if any(k in r.tags for k in REQUIRED)
            for key in REQUIRED
            if key not in r.tags and case_variant(r.tags, key) is None
        )
        assert set(missing) == set(REQUIRED)

    def test_has_invalid_environment_values(self, estate: DemoEstate) -> None:
        values = {r.tags["Environment"] for r in estate.resources if "Environment" in r.tags}
        assert values - ENVIRONMENTS  # e.g. "prod", "Production"

    def test_has_invalid_cost_center_values(self, estate: DemoEstate) -> None:
        values = {r.tags["CostCenter"] for r in estate.resources if "CostCenter" in r.tags}
        assert values - COST_CENTERS  # e.g. "CC-9999"

    def test_has_owners_in_an_invalid_format(self, estate: DemoEstate) -> None:
        owners = {r.tags["Owner"] for r in estate.resources if "Owner" in r.tags}
        assert {owner for owner in owners if not OWNER.fullmatch(owner)}

    def test_has_owners_both_as_emails_and_team_names(self, estate: DemoEstate) -> None:
        owners = {r.tags["Owner"] for r in estate.resources if fully_compliant(r)}
        assert any("@" in owner for owner in owners)
        assert any(owner.startswith("team-") for owner in owners)

    def test_has_required_keys_in_the_wrong_case(self, estate: DemoEstate) -> None:
        miscased = {
            variant
            for r in estate.resources
            for key in REQUIRED
            if (variant := case_variant(r.tags, key)) is not None
        }
        assert len(miscased) >= 3  # e.g. "owner", "costcenter", "ENVIRONMENT"

    def test_about_half_of_the_resources_are_compliant(self, estate: DemoEstate) -> None:
        share = sum(fully_compliant(r) for r in estate.resources) / len(estate.resources)
        assert 0.35 <= share <= 0.6

    def test_cloudformation_stacks_have_siblings_to_learn_tags_from(
        self, estate: DemoEstate
    ) -> None:
        stacks: dict[str, list[SeededResource]] = {}
        for r in estate.resources:
            if CLOUDFORMATION_STACK_TAG in r.tags:
                stacks.setdefault(r.tags[CLOUDFORMATION_STACK_TAG], []).append(r)
        assert len(stacks) >= 5
        # A stack member lacks CostCenter while a sibling in the same stack has it.
        assert any(
            any("CostCenter" not in r.tags for r in members)
            and any("CostCenter" in r.tags for r in members)
            for members in stacks.values()
        )

    def test_instances_follow_a_naming_pattern(self, estate: DemoEstate) -> None:
        pattern = re.compile(r"[a-z]+-(prod|stg|dev|sbx)-\d{2}")
        names = [
            r.tags["Name"]
            for r in estate.resources
            if r.resource_type == "ec2:instance" and "Name" in r.tags
        ]
        assert sum(bool(pattern.fullmatch(name)) for name in names) >= 20

    def test_terminated_instance_is_left_out(self, estate: DemoEstate) -> None:
        ec2 = boto3.client("ec2", region_name="us-east-1")
        terminated = [
            f"arn:aws:ec2:us-east-1:{MAIN}:instance/{instance['InstanceId']}"
            for reservation in ec2.describe_instances(
                Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}]
            )["Reservations"]
            for instance in reservation["Instances"]
        ]
        assert terminated
        assert not set(terminated) & arns(list(estate.resources))

    @pytest.mark.parametrize("region", REGIONS)
    def test_moto_default_network_is_in_the_manifest(self, estate: DemoEstate, region: str) -> None:
        ec2 = boto3.client("ec2", region_name=region)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
        group = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"][0]
        expected = {
            f"arn:aws:ec2:{region}:{MAIN}:vpc/{vpc['VpcId']}",
            f"arn:aws:ec2:{region}:{MAIN}:security-group/{group['GroupId']}",
            *(f"arn:aws:ec2:{region}:{MAIN}:subnet/{s['SubnetId']}" for s in subnets["Subnets"]),
        }
        assert expected <= arns(list(estate.resources))

    def test_snapshots_are_only_the_accounts_own(self, estate: DemoEstate) -> None:
        # moto's public AMIs come with snapshots in every region; a scan must not count them.
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        own = ec2.describe_snapshots(Filters=[{"Name": "owner-id", "Values": [MAIN]}])["Snapshots"]
        manifest = {
            r.arn
            for r in estate.resources
            if r.resource_type == "ec2:snapshot" and (r.account_id, r.region) == (MAIN, "eu-west-1")
        }
        assert own
        assert manifest == {f"arn:aws:ec2:eu-west-1:{MAIN}:snapshot/{s['SnapshotId']}" for s in own}

    def test_some_volumes_are_attached_to_instances(self, estate: DemoEstate) -> None:
        volumes = boto3.client("ec2", region_name="ap-southeast-2").describe_volumes()["Volumes"]
        attached = {
            f"arn:aws:ec2:ap-southeast-2:{MAIN}:volume/{v['VolumeId']}"
            for v in volumes
            if v["Attachments"]
        }
        detached = {
            f"arn:aws:ec2:ap-southeast-2:{MAIN}:volume/{v['VolumeId']}"
            for v in volumes
            if not v["Attachments"]
        }
        assert attached
        assert detached
        assert attached | detached <= arns(list(estate.resources))

    def test_buckets_are_filed_under_their_own_region(self, estate: DemoEstate) -> None:
        buckets = [r for r in estate.resources if r.resource_type == "s3:bucket"]
        assert {r.region for r in buckets if r.account_id == MAIN} == set(REGIONS)
        # Bucket names end with the account and region they were created in.
        assert all(r.arn.endswith(f"-{r.account_id}-{r.region}") for r in buckets)
        assert all(r.arn.startswith("arn:aws:s3:::") for r in buckets)

    def test_progress_reports_each_seeded_region(
        self, seeded: tuple[DemoEstate, list[str]]
    ) -> None:
        _, messages = seeded
        for region in REGIONS:
            assert any(m.startswith(f"{MAIN} {region}: ") and "instances" in m for m in messages)
        assert messages[-1] == "demo estate ready: " + f"{len(seeded[0].resources)} resources"


def test_same_seed_gives_the_same_estate() -> None:
    def shape() -> Counter[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
        with mock_aws():
            estate = seed_demo_estate(regions=["eu-west-1"], second_account_role=None, seed=3)
        return Counter(
            (r.account_id, r.region, r.resource_type, tuple(sorted(r.tags.items())))
            for r in estate.resources
        )

    assert shape() == shape()


@pytest.mark.usefixtures("aws")
def test_no_second_account_without_a_role() -> None:
    estate = seed_demo_estate(regions=["eu-west-1"], second_account_role=None)
    assert estate.accounts == (MAIN,)
    assert {r.account_id for r in estate.resources} == {MAIN}


def test_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="scale"):
        seed_demo_estate(scale=0)
