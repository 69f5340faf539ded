"""A realistic sample AWS estate, created in a fake AWS (moto) for ``manage.py demo`` and tests.

A tag-compliance product shown on an empty account proves nothing, and one shown on tidy
fixtures hides what real estates look like. So the estate is built the way a real one grows:
teams own workloads per environment, CloudFormation-deployed resources share stack tags and
naming patterns (``web-prod-01``), and about half of the resources are tagged correctly while
the rest show every violation the policy engine knows, plus resources nobody ever tagged.

Everything is created through boto3 with the standard AWS environment, so the same code seeds
an in-process ``mock_aws`` (tests) or a moto server named by ``AWS_ENDPOINT_URL`` (the demo).
It expects a fresh moto: names are fixed by ``seed``, so seeding twice collides.

The returned :class:`DemoEstate` is not the seeding plan but what AWS lists afterwards, so it
also holds what moto creates on its own (each region's default VPC, its subnets, each VPC's
default security group) and leaves out what is gone (the terminated instance): it is the exact
answer a complete scan of these accounts and regions must give for :data:`RESOURCE_TYPES`.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError

from compliance.demo import services
from compliance.demo.services import every as _all
from compliance.demo.services import tag_pairs as _tags

DEFAULT_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
SECOND_ACCOUNT_ROLE = "arn:aws:iam::210987654321:role/TagComplianceReader"
SECOND_ACCOUNT_EXTERNAL_ID = "demo-external-id"
ROLE_SESSION_NAME = "demo-estate-seeder"

#: What the estate contains and the manifest describes, named as AWS tag policies name them.
RESOURCE_TYPES: tuple[str, ...] = tuple(
    sorted(
        (
            "dynamodb:table",
            "ec2:elastic-ip",
            "ec2:instance",
            "ec2:natgateway",
            "ec2:security-group",
            "ec2:snapshot",
            "ec2:subnet",
            "ec2:volume",
            "ec2:vpc",
            "ecr:repository",
            "ecs:cluster",
            "ecs:service",
            "elasticfilesystem:file-system",
            "elasticloadbalancing:loadbalancer",
            "kinesis:stream",
            "lambda:function",
            "logs:log-group",
            "rds:db",
            "s3:bucket",
            "sns:topic",
            "sqs:queue",
            *services.RESOURCE_TYPES,
        )
    )
)

#: Set by CloudFormation on everything it creates; users cannot set ``aws:`` keys in real AWS,
#: moto lets us, except S3 (InvalidTag), where the stack goes in :data:`STACK_TAG` instead.
CLOUDFORMATION_STACK_TAG = "aws:cloudformation:stack-name"
STACK_TAG = "Stack"
_RESERVED_KEYS_REFUSED = frozenset({"s3:bucket"})

#: The sample policy's ``Project`` tag applies to these types only.
_PROJECT_TYPES = frozenset({"ec2:instance", "rds:db", "lambda:function", "s3:bucket"})

_ENVIRONMENTS = {"production": "prod", "staging": "stg", "development": "dev", "sandbox": "sbx"}

TagProfile = Literal[
    "compliant",
    "missing_required_tag",
    "invalid_value",
    "invalid_format",
    "wrong_key_case",
    "never_tagged",
]
# About 45% of the whole estate ends up compliant: moto's own defaults are never tagged.
_PROFILE_WEIGHTS: dict[TagProfile, int] = {
    "compliant": 55,
    "missing_required_tag": 14,
    "invalid_value": 10,
    "invalid_format": 8,
    "wrong_key_case": 8,
    "never_tagged": 10,
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SeededResource:
    """One resource as AWS lists it once seeding is done: what a scan must report for it."""

    arn: str
    resource_type: str
    region: str
    account_id: str
    tags: dict[str, str]


@dataclass(frozen=True)
class DemoEstate:
    """The manifest: every resource of :data:`RESOURCE_TYPES` in ``accounts`` x ``regions``."""

    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    resources: tuple[SeededResource, ...]

    def count_by(
        self, attribute: Literal["resource_type", "region", "account_id"]
    ) -> dict[str, int]:
        """Resource counts per type, region or account, for progress lines and summaries."""
        return dict(sorted(Counter(getattr(r, attribute) for r in self.resources).items()))


@dataclass(frozen=True)
class _Recipe:
    """How many of each thing one region of one account gets (moto's defaults come on top)."""

    vpcs: int  # custom VPCs, two subnets each; 0 puts everything in the default VPC
    security_groups: int
    instances: int  # each with a root volume
    detached_volumes: int
    snapshots: int
    elastic_ips: int  # not counting the NAT gateways' own
    nat_gateways: int
    buckets: int
    databases: int
    functions: int
    tables: int
    queues: int
    topics: int
    repositories: int
    log_groups: int
    streams: int
    file_systems: int
    clusters: int  # ECS, two services each
    load_balancers: int
    secrets: int
    alarms: int
    state_machines: int
    keys: int

    def scaled(self, scale: int) -> _Recipe:
        return replace(self, **{f.name: getattr(self, f.name) * scale for f in fields(self)})


_MAIN_RECIPE = _Recipe(
    vpcs=2,
    security_groups=4,
    instances=16,
    detached_volumes=4,
    snapshots=4,
    elastic_ips=2,
    nat_gateways=1,
    buckets=4,
    databases=2,
    functions=4,
    tables=3,
    queues=4,
    topics=2,
    repositories=2,
    log_groups=4,
    streams=1,
    file_systems=1,
    clusters=1,
    load_balancers=1,
    secrets=2,
    alarms=2,
    state_machines=1,
    keys=1,
)
# A small sandbox account: in the default VPC, and only in the first two regions.
_SECOND_RECIPE = _Recipe(
    vpcs=0,
    security_groups=1,
    instances=3,
    detached_volumes=1,
    snapshots=0,
    elastic_ips=1,
    nat_gateways=0,
    buckets=1,
    databases=0,
    functions=1,
    tables=1,
    queues=1,
    topics=1,
    repositories=0,
    log_groups=1,
    streams=0,
    file_systems=0,
    clusters=0,
    load_balancers=0,
    secrets=1,
    alarms=1,
    state_machines=0,
    keys=0,
)
_SECOND_ACCOUNT_REGIONS = 2


@dataclass(frozen=True)
class _Team:
    app: str
    owner: str  # an email or ``team-<name>``: both valid in the sample policy
    cost_center: str
    project: str


_TEAMS = (
    _Team("web", "web-team@example.com", "CC-1001", "storefront"),
    _Team("api", "team-platform", "CC-1002", "storefront"),
    _Team("payments", "payments@example.com", "CC-2001", "checkout"),
    _Team("etl", "team-data", "CC-3001", "analytics"),
    _Team("search", "search-team@example.com", "CC-1001", "discovery"),
    _Team("auth", "team-identity", "CC-1002", "platform"),
)


@dataclass(frozen=True)
class _Workload:
    """One team's deployment in one environment: the unit that shares tags and a name prefix."""

    team: _Team
    environment: str
    stack: str | None  # the CloudFormation stack, when the workload is deployed by one

    @property
    def prefix(self) -> str:
        return f"{self.team.app}-{_ENVIRONMENTS[self.environment]}"


class _Tagger:
    """Decides each resource's tags, so that every violation kind and type shows up.

    The first resources take each profile in turn, and the second resource of every type is
    never tagged, so a small estate (or an unlucky seed) still has one of each.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._pending: list[TagProfile] = list(_PROFILE_WEIGHTS)
        self._seen: Counter[str] = Counter()
        self._untagged_types: set[str] = set()

    def tags(
        self, resource_type: str, workload: _Workload, name: str | None = None
    ) -> dict[str, str] | None:
        """The tags to create the resource with; ``None`` means no tag call at all."""
        profile = self._profile(resource_type)
        if profile == "never_tagged":
            self._untagged_types.add(resource_type)
            return None
        tags = self._compliant(resource_type, workload, name)
        return self._spoil(profile, resource_type, tags)

    def _profile(self, resource_type: str) -> TagProfile:
        self._seen[resource_type] += 1
        if self._seen[resource_type] == 2 and resource_type not in self._untagged_types:
            return "never_tagged"
        if self._pending:
            return self._pending.pop(0)
        profiles = list(_PROFILE_WEIGHTS)
        return self._rng.choices(profiles, weights=[_PROFILE_WEIGHTS[p] for p in profiles])[0]

    def _compliant(
        self, resource_type: str, workload: _Workload, name: str | None
    ) -> dict[str, str]:
        team = workload.team
        tags = {
            "Owner": team.owner,
            "CostCenter": team.cost_center,
            "Environment": workload.environment,
        }
        # Teams tag Project where the policy asks for it, and on some other resources anyway.
        if resource_type in _PROJECT_TYPES or self._rng.random() < 0.4:
            tags["Project"] = team.project
        if name:
            tags["Name"] = name
        if workload.stack:
            refused = resource_type in _RESERVED_KEYS_REFUSED
            tags[STACK_TAG if refused else CLOUDFORMATION_STACK_TAG] = workload.stack
        return tags

    def _spoil(
        self, profile: TagProfile, resource_type: str, tags: dict[str, str]
    ) -> dict[str, str]:
        rng = self._rng
        if profile == "missing_required_tag":
            required = ["CostCenter", "Owner", "Environment"]
            if resource_type in _PROJECT_TYPES:
                required.append("Project")
            for dropped in rng.sample(required, k=1 if rng.random() < 0.7 else 2):
                del tags[dropped]
        elif profile == "invalid_value":
            if rng.random() < 0.5:
                tags["Environment"] = rng.choice(["prod", "Production", "dev", "qa", "test"])
            else:
                tags["CostCenter"] = rng.choice(["CC-9999", "cc-1001", "1001", "CC1002"])
        elif profile == "invalid_format":
            tags["Owner"] = rng.choice(["jsmith", "John Smith", "web team", "team_data", "TBD"])
        elif profile == "wrong_key_case":
            key, variants = rng.choice(
                [
                    ("Owner", ["owner", "OWNER"]),
                    ("CostCenter", ["costcenter", "Costcenter", "costCenter"]),
                    ("Environment", ["environment", "ENVIRONMENT"]),
                ]
            )
            tags[rng.choice(variants)] = tags.pop(key)
        return tags


class _Account:
    """One account's session and its clients, made once per service and region."""

    def __init__(self, account_id: str, session: boto3.session.Session) -> None:
        self.account_id = account_id
        self.session = session
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=region)
        return self._clients[key]


def seed_demo_estate(
    *,
    regions: Sequence[str] = DEFAULT_REGIONS,
    second_account_role: str | None = SECOND_ACCOUNT_ROLE,
    seed: int = 7,
    scale: int = 1,
    progress: Progress | None = None,
) -> DemoEstate:
    """Create the sample estate in the AWS the environment points at, and describe it.

    The main account is whatever the default credentials are (moto's 123456789012); the second
    is reached by assuming ``second_account_role`` (moto puts the assumed role in the role's
    account), and skipped when it is ``None``. ``scale`` multiplies every seeded count.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if not regions:
        raise ValueError("regions must name at least one region")
    report = progress or (lambda _message: None)
    regions = tuple(regions)
    # Reproducible sample data, not secrets:
    rng = random.Random(seed)  # noqa: S311  # nosec B311
    tagger = _Tagger(rng)

    base = boto3.session.Session()
    accounts = [(_account(base, regions[0]), _MAIN_RECIPE.scaled(scale), regions)]
    if second_account_role:
        second = _assumed_account(base, second_account_role, regions[0])
        report(f"{second.account_id}: reached by assuming {second_account_role}")
        recipe = _SECOND_RECIPE.scaled(scale)
        accounts.append((second, recipe, regions[:_SECOND_ACCOUNT_REGIONS]))

    for index, (account, recipe, seeded_regions) in enumerate(accounts):
        role_arn = _create_lambda_role(account, regions[0])
        for region in seeded_regions:
            workloads = _workloads(rng, sandbox=index > 0)
            seeder = _RegionSeeder(account, region, recipe, rng, tagger, workloads, report)
            seeder.seed(role_arn, with_terminated_instance=index == 0 and region == regions[0])

    report(f"describing {len(accounts)} account(s) x {len(regions)} region(s)")
    resources = [r for account, _, _ in accounts for r in _describe_account(account, regions)]
    estate = DemoEstate(
        accounts=tuple(account.account_id for account, _, _ in accounts),
        regions=regions,
        resources=tuple(sorted(resources, key=lambda r: (r.account_id, r.region, r.arn))),
    )
    report(f"demo estate ready: {len(estate.resources)} resources")
    return estate


def _account(session: boto3.session.Session, region: str) -> _Account:
    identity = session.client("sts", region_name=region).get_caller_identity()
    return _Account(identity["Account"], session)


def _assumed_account(base: boto3.session.Session, role_arn: str, region: str) -> _Account:
    credentials = base.client("sts", region_name=region).assume_role(
        RoleArn=role_arn,
        RoleSessionName=ROLE_SESSION_NAME,
        ExternalId=SECOND_ACCOUNT_EXTERNAL_ID,
    )["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return _account(session, region)


def _create_lambda_role(account: _Account, region: str) -> str:
    """Lambda refuses a function without an execution role, and IAM is account-wide."""
    role = account.client("iam", region).create_role(
        RoleName="demo-lambda-execution",
        AssumeRolePolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":'
            ' "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}'
        ),
    )
    return str(role["Role"]["Arn"])


def _workloads(rng: random.Random, *, sandbox: bool) -> list[_Workload]:
    """Every team's workloads in a region: production first in the main account."""
    if sandbox:
        teams = rng.sample(_TEAMS, k=3)
        environments = [rng.choice(["sandbox", "development"]) for _ in teams]
    else:
        teams = list(_TEAMS)
        environments = ["production"] * 3 + [rng.choice(["staging", "development"]) for _ in "abc"]
    workloads = []
    for team, environment in zip(teams, environments, strict=True):
        prefix = f"{team.app}-{_ENVIRONMENTS[environment]}"
        stack = f"{prefix}-stack" if rng.random() < 0.6 else None
        workloads.append(_Workload(team, environment, stack))
    return workloads


def _tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in tags.items()]


def _tag_argument(
    keyword: str,
    tags: dict[str, str] | None,
    shape: Literal["list", "map", "ecs", "kms"] = "list",
) -> dict[str, Any]:
    """A create call's tag keyword argument, in the shape the service wants; none at all for a
    resource left untagged (an empty list is still a tag call to some services)."""
    if tags is None:
        return {}
    if shape == "map":
        return {keyword: tags}
    if shape == "ecs":
        return {keyword: _tag_list(tags, "key", "value")}
    if shape == "kms":
        return {keyword: _tag_list(tags, "TagKey", "TagValue")}
    return {keyword: _tag_list(tags)}


def _tag_spec(resource_type: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """EC2 ``TagSpecifications`` keyword arguments; none at all for an untagged resource."""
    if tags is None:
        return {}
    return {"TagSpecifications": [{"ResourceType": resource_type, "Tags": _tag_list(tags)}]}


def _lambda_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass
class _RegionSeeder:
    """Seeds one region of one account, following a recipe, phase by phase."""

    account: _Account
    region: str
    recipe: _Recipe
    rng: random.Random
    tagger: _Tagger
    workloads: list[_Workload]
    report: Progress
    _counters: Counter[str] = field(default_factory=Counter)

    def seed(self, lambda_role_arn: str, *, with_terminated_instance: bool) -> None:
        subnet_pairs, groups = self._network()
        instances = self._compute(subnet_pairs, groups, with_terminated_instance)
        self._addresses(subnet_pairs, instances)
        self._storage_and_messaging()
        self._applications(lambda_role_arn, subnet_pairs, groups)
        services.seed_region(self, lambda_role_arn)

    def _ec2(self) -> Any:
        return self.account.client("ec2", self.region)

    def say(self, message: str) -> None:
        self.report(f"{self.account.account_id} {self.region}: {message}")

    def next_name(self, stem: str) -> str:
        """``web-prod-01``, ``web-prod-02``...: the naming pattern tag suggestions learn from."""
        self._counters[stem] += 1
        return f"{stem}-{self._counters[stem]:02d}"

    def pick(self) -> _Workload:
        return self.rng.choice(self.workloads)

    def _network(self) -> tuple[list[tuple[str, str]], list[str]]:
        """Custom VPCs with a subnet in each of two zones (the load balancer needs two zones).

        Returns subnet pairs and security group ids; without custom VPCs, the default VPC's.
        """
        ec2 = self._ec2()
        pairs: list[tuple[str, str]] = []
        vpc_ids: list[str] = []
        for index in range(self.recipe.vpcs):
            workload = self.workloads[index % len(self.workloads)]
            name = self.next_name(f"{workload.prefix}-vpc")
            cidr = f"10.{index % 250}.0.0/16"
            tags = self.tagger.tags("ec2:vpc", workload, name)
            vpc_id = ec2.create_vpc(CidrBlock=cidr, **_tag_spec("vpc", tags))["Vpc"]["VpcId"]
            vpc_ids.append(vpc_id)
            subnets = []
            for zone_index, zone in enumerate("ab"):
                tags = self.tagger.tags("ec2:subnet", workload, f"{name}-{zone}")
                subnet = ec2.create_subnet(
                    VpcId=vpc_id,
                    CidrBlock=f"10.{index % 250}.{zone_index}.0/24",
                    AvailabilityZone=f"{self.region}{zone}",
                    **_tag_spec("subnet", tags),
                )
                subnets.append(subnet["Subnet"]["SubnetId"])
            pairs.append((subnets[0], subnets[1]))
        if not pairs:
            default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
            vpc_ids = [default["Vpcs"][0]["VpcId"]]
            found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": vpc_ids}])
            subnet_ids = sorted(s["SubnetId"] for s in found["Subnets"])
            pairs = [(subnet_ids[0], subnet_ids[1])]
        groups = []
        for _ in range(self.recipe.security_groups):
            workload = self.pick()
            name = self.next_name(f"{workload.prefix}-sg")
            group = ec2.create_security_group(
                GroupName=name,
                Description=f"{workload.prefix} application traffic",
                VpcId=self.rng.choice(vpc_ids),
                **_tag_spec("security-group", self.tagger.tags("ec2:security-group", workload)),
            )
            groups.append(group["GroupId"])
        where = f"{len(pairs)} VPCs with 2 subnets each" if self.recipe.vpcs else "default VPC"
        self.say(f"{where}, {len(groups)} security groups (and moto's default network)")
        return pairs, groups

    def _compute(
        self, pairs: list[tuple[str, str]], groups: list[str], with_terminated_instance: bool
    ) -> list[str]:
        """Instances with their root volumes, orphaned data volumes and their snapshots."""
        ec2 = self._ec2()
        image_id = self._image_id()
        instances = []
        for _ in range(self.recipe.instances):
            workload = self.pick()
            name = self.next_name(workload.prefix)
            instance_tags = self.tagger.tags("ec2:instance", workload, name)
            volume_tags = self.tagger.tags("ec2:volume", workload, f"{name}-root")
            specs = _tag_spec("instance", instance_tags).get("TagSpecifications", [])
            specs += _tag_spec("volume", volume_tags).get("TagSpecifications", [])
            subnet = self.rng.choice(self.rng.choice(pairs))
            instance = ec2.run_instances(
                ImageId=image_id,
                MinCount=1,
                MaxCount=1,
                InstanceType=self.rng.choice(["t3.micro", "t3.large", "m5.large", "c5.xlarge"]),
                SubnetId=subnet,
                **({"SecurityGroupIds": [self.rng.choice(groups)]} if groups else {}),
                **({"TagSpecifications": specs} if specs else {}),
            )["Instances"][0]
            instances.append(instance["InstanceId"])
        if with_terminated_instance:
            # Terminated instances stay listed for a while; a scan must not count them.
            workload = self.workloads[0]
            tags = {"Name": f"{workload.prefix}-retired", "Owner": workload.team.owner}
            retired = ec2.run_instances(
                ImageId=image_id, MinCount=1, MaxCount=1, **_tag_spec("instance", tags)
            )["Instances"][0]["InstanceId"]
            ec2.terminate_instances(InstanceIds=[retired])
        volumes = []
        for _ in range(self.recipe.detached_volumes):
            workload = self.pick()
            name = self.next_name(f"{workload.prefix}-data")
            volume = ec2.create_volume(
                AvailabilityZone=f"{self.region}a",
                Size=self.rng.choice([50, 100, 500]),
                VolumeType="gp3",
                **_tag_spec("volume", self.tagger.tags("ec2:volume", workload, name)),
            )
            volumes.append((workload, volume["VolumeId"]))
        for index in range(self.recipe.snapshots):
            workload, volume_id = volumes[index % len(volumes)]
            name = self.next_name(f"{workload.prefix}-backup")
            ec2.create_snapshot(
                VolumeId=volume_id,
                Description=f"nightly backup {name}",
                **_tag_spec("snapshot", self.tagger.tags("ec2:snapshot", workload, name)),
            )
        terminated = " and 1 terminated" if with_terminated_instance else ""
        self.say(
            f"{len(instances)} instances{terminated} with root volumes,"
            f" {len(volumes)} detached volumes, {self.recipe.snapshots} snapshots"
        )
        return instances

    def _image_id(self) -> str:
        """An Amazon Linux image from moto's catalogue (any id works unless moto validates)."""
        images = self._ec2().describe_images(
            Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}]
        )["Images"]
        return min((i["ImageId"] for i in images), default="ami-12c6146b")

    def _addresses(self, pairs: list[tuple[str, str]], instances: list[str]) -> None:
        """Elastic IPs, one associated and the rest idle (billed anyway), and NAT gateways."""
        ec2 = self._ec2()
        for index in range(self.recipe.elastic_ips):
            workload = self.pick()
            name = self.next_name(f"{workload.prefix}-eip")
            address = ec2.allocate_address(
                Domain="vpc",
                **_tag_spec("elastic-ip", self.tagger.tags("ec2:elastic-ip", workload, name)),
            )
            if index == 0 and instances:
                ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instances[0])
        for index in range(self.recipe.nat_gateways):
            workload = self.workloads[index % len(self.workloads)]
            name = self.next_name(f"{workload.prefix}-nat")
            address = ec2.allocate_address(
                Domain="vpc",
                **_tag_spec("elastic-ip", self.tagger.tags("ec2:elastic-ip", workload, name)),
            )
            ec2.create_nat_gateway(
                SubnetId=pairs[index % len(pairs)][0],
                AllocationId=address["AllocationId"],
                **_tag_spec("natgateway", self.tagger.tags("ec2:natgateway", workload, name)),
            )
        self.say(
            f"{self.recipe.elastic_ips + self.recipe.nat_gateways} elastic IPs,"
            f" {self.recipe.nat_gateways} NAT gateways"
        )

    def _storage_and_messaging(self) -> None:
        """Buckets, tables, queues, topics, streams, file systems and repositories."""
        account_id, region = self.account.account_id, self.region
        s3 = self.account.client("s3", region)
        for _ in range(self.recipe.buckets):
            workload = self.pick()
            stem = f"{workload.prefix}-{self.rng.choice(['assets', 'logs', 'exports', 'backups'])}"
            bucket = f"{self.next_name(stem)}-{account_id}-{region}"
            # us-east-1 is the one region that refuses a LocationConstraint naming itself.
            location = {} if region == "us-east-1" else {"LocationConstraint": region}
            s3.create_bucket(
                Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {})
            )
            if tags := self.tagger.tags("s3:bucket", workload):
                s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(tags)})
        dynamodb = self.account.client("dynamodb", region)
        for _ in range(self.recipe.tables):
            workload = self.pick()
            tags = self.tagger.tags("dynamodb:table", workload)
            noun = self.rng.choice(["sessions", "orders", "events"])
            dynamodb.create_table(
                TableName=self.next_name(f"{workload.prefix}-{noun}"),
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                **_tag_argument("Tags", tags),
            )
        sqs = self.account.client("sqs", region)
        for _ in range(self.recipe.queues):
            workload = self.pick()
            tags = self.tagger.tags("sqs:queue", workload)
            noun = self.rng.choice(["jobs", "events", "dlq"])
            sqs.create_queue(
                QueueName=self.next_name(f"{workload.prefix}-{noun}"),
                **_tag_argument("tags", tags, "map"),
            )
        sns = self.account.client("sns", region)
        for _ in range(self.recipe.topics):
            workload = self.pick()
            tags = self.tagger.tags("sns:topic", workload)
            sns.create_topic(
                Name=self.next_name(f"{workload.prefix}-alerts"),
                **_tag_argument("Tags", tags),
            )
        kinesis = self.account.client("kinesis", region)
        for _ in range(self.recipe.streams):
            workload = self.pick()
            stream = self.next_name(f"{workload.prefix}-clickstream")
            kinesis.create_stream(StreamName=stream, ShardCount=1)
            # moto ignores CreateStream's Tags, so they are added afterwards.
            if tags := self.tagger.tags("kinesis:stream", workload):
                kinesis.add_tags_to_stream(StreamName=stream, Tags=tags)
        efs = self.account.client("efs", region)
        for _ in range(self.recipe.file_systems):
            workload = self.pick()
            name = self.next_name(f"{workload.prefix}-shared")
            tags = self.tagger.tags("elasticfilesystem:file-system", workload, name)
            efs.create_file_system(
                CreationToken=f"{account_id}-{name}",
                **_tag_argument("Tags", tags),
            )
        ecr = self.account.client("ecr", region)
        for _ in range(self.recipe.repositories):
            workload = self.pick()
            tags = self.tagger.tags("ecr:repository", workload)
            ecr.create_repository(
                repositoryName=self.next_name(f"{workload.team.app}/{workload.prefix}"),
                **_tag_argument("tags", tags),
            )
        recipe = self.recipe
        self.say(
            f"{recipe.buckets} buckets, {recipe.tables} tables, {recipe.queues} queues,"
            f" {recipe.topics} topics, {recipe.streams} streams,"
            f" {recipe.file_systems} file systems, {recipe.repositories} repositories"
        )

    def _applications(
        self, lambda_role_arn: str, pairs: list[tuple[str, str]], groups: list[str]
    ) -> None:
        """Databases, functions with their log groups, ECS clusters and load balancers."""
        region = self.region
        rds = self.account.client("rds", region)
        for _ in range(self.recipe.databases):
            workload = self.pick()
            tags = self.tagger.tags("rds:db", workload)
            rds.create_db_instance(
                DBInstanceIdentifier=self.next_name(f"{workload.prefix}-db"),
                DBInstanceClass=self.rng.choice(["db.t3.medium", "db.r5.large"]),
                Engine=self.rng.choice(["postgres", "mysql"]),
                MasterUsername="demo",
                MasterUserPassword="demo-password",
                AllocatedStorage=100,
                **_tag_argument("Tags", tags),
            )
        lambda_ = self.account.client("lambda", region)
        logs = self.account.client("logs", region)
        package = _lambda_package()
        for index in range(max(self.recipe.functions, self.recipe.log_groups)):
            workload = self.pick()
            verb = self.rng.choice(["resize", "notify", "sync", "cleanup"])
            function = self.next_name(f"{workload.prefix}-{verb}")
            if index < self.recipe.functions:
                tags = self.tagger.tags("lambda:function", workload)
                lambda_.create_function(
                    FunctionName=function,
                    Runtime="python3.12",
                    Role=lambda_role_arn,
                    Handler="handler.handle",
                    Code={"ZipFile": package},
                    **_tag_argument("Tags", tags, "map"),
                )
            if index < self.recipe.log_groups:
                # Lambda creates its log group on first run, untagged unless someone tags it.
                tags = self.tagger.tags("logs:log-group", workload)
                logs.create_log_group(
                    logGroupName=f"/aws/lambda/{function}",
                    **_tag_argument("tags", tags, "map"),
                )
        ecs = self.account.client("ecs", region)
        for _ in range(self.recipe.clusters):
            workload = self.pick()
            tags = self.tagger.tags("ecs:cluster", workload)
            cluster = self.next_name(f"{workload.prefix}-cluster")
            ecs.create_cluster(
                clusterName=cluster,
                **_tag_argument("tags", tags, "ecs"),
            )
            ecs.register_task_definition(
                family=workload.prefix,
                containerDefinitions=[{"name": "app", "image": "nginx:stable", "memory": 512}],
            )
            for _ in range(2):
                tags = self.tagger.tags("ecs:service", workload)
                ecs.create_service(
                    cluster=cluster,
                    serviceName=self.next_name(f"{workload.prefix}-svc"),
                    taskDefinition=workload.prefix,
                    desiredCount=2,
                    **_tag_argument("tags", tags, "ecs"),
                )
        elbv2 = self.account.client("elbv2", region)
        for index in range(self.recipe.load_balancers):
            workload = self.pick()
            tags = self.tagger.tags("elasticloadbalancing:loadbalancer", workload)
            elbv2.create_load_balancer(
                Name=self.next_name(f"{workload.prefix}-alb"),
                Subnets=list(pairs[index % len(pairs)]),
                **({"SecurityGroups": [groups[index % len(groups)]]} if groups else {}),
                Type="application",
                **_tag_argument("Tags", tags),
            )
        recipe = self.recipe
        self.say(
            f"{recipe.databases} databases, {recipe.functions} functions,"
            f" {recipe.log_groups} log groups, {recipe.clusters} ECS clusters"
            f" ({2 * recipe.clusters} services), {recipe.load_balancers} load balancers"
        )


# Describing: what the accounts hold once seeding is done, read back through the same APIs a
# scan uses. Written independently of the collectors on purpose: the manifest is the answer
# they are checked against, so it must not share their mistakes.

_Describer = Callable[[_Account, str], Iterator[SeededResource]]


def _describe_account(account: _Account, regions: tuple[str, ...]) -> list[SeededResource]:
    found = list(_buckets(account, regions))
    found.extend(services.describe_roles(account, regions[0]))
    for region in regions:
        for describe in (*_REGIONAL_DESCRIBERS, *services.REGIONAL_DESCRIBERS):
            found.extend(describe(account, region))
    return found


def _resource(
    account: _Account, region: str, resource_type: str, arn: str, tags: dict[str, str]
) -> SeededResource:
    return SeededResource(arn, resource_type, region, account.account_id, tags)


def _ec2_arn(account: _Account, region: str, kind: str, resource_id: str) -> str:
    # Snapshot ARNs carry the account too, as the Tagging API and cost reports write them.
    return f"arn:aws:ec2:{region}:{account.account_id}:{kind}/{resource_id}"


def _ec2_resources(account: _Account, region: str) -> Iterator[SeededResource]:
    ec2 = account.client("ec2", region)

    def found(resource_type: str, kind: str, resource_id: str, tags: Any) -> SeededResource:
        arn = _ec2_arn(account, region, kind, resource_id)
        return _resource(account, region, resource_type, arn, _tags(tags))

    for reservation in _all(ec2, "describe_instances", "Reservations"):
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] not in {"shutting-down", "terminated"}:
                yield found(
                    "ec2:instance", "instance", instance["InstanceId"], instance.get("Tags")
                )
    for volume in _all(ec2, "describe_volumes", "Volumes"):
        yield found("ec2:volume", "volume", volume["VolumeId"], volume.get("Tags"))
    # moto ignores OwnerIds=["self"] and lists the snapshots behind its ~1,300 public AMIs
    # (slowly); the owner-id filter, which AWS honours too, is the one it applies.
    mine = [{"Name": "owner-id", "Values": [account.account_id]}]
    for snapshot in _all(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=mine):
        yield found("ec2:snapshot", "snapshot", snapshot["SnapshotId"], snapshot.get("Tags"))
    for address in ec2.describe_addresses()["Addresses"]:
        yield found("ec2:elastic-ip", "elastic-ip", address["AllocationId"], address.get("Tags"))
    for gateway in _all(ec2, "describe_nat_gateways", "NatGateways"):
        if gateway["State"] not in {"deleting", "deleted"}:
            yield found(
                "ec2:natgateway", "natgateway", gateway["NatGatewayId"], gateway.get("Tags")
            )
    for vpc in _all(ec2, "describe_vpcs", "Vpcs"):
        yield found("ec2:vpc", "vpc", vpc["VpcId"], vpc.get("Tags"))
    for subnet in _all(ec2, "describe_subnets", "Subnets"):
        yield found("ec2:subnet", "subnet", subnet["SubnetId"], subnet.get("Tags"))
    for group in _all(ec2, "describe_security_groups", "SecurityGroups"):
        yield found("ec2:security-group", "security-group", group["GroupId"], group.get("Tags"))


def _buckets(account: _Account, regions: tuple[str, ...]) -> Iterator[SeededResource]:
    """Buckets are listed once per account, wherever they live; kept when in ``regions``."""
    s3 = account.client("s3", regions[0])
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        location = s3.get_bucket_location(Bucket=name)["LocationConstraint"]
        region = location or "us-east-1"
        if region not in regions:
            continue
        try:
            tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except ClientError as error:
            # A bucket that was never tagged has no tag set: S3 answers with an error.
            if error.response["Error"]["Code"] != "NoSuchTagSet":
                raise
            tag_set = []
        yield _resource(account, region, "s3:bucket", f"arn:aws:s3:::{name}", _tags(tag_set))


def _databases(account: _Account, region: str) -> Iterator[SeededResource]:
    rds = account.client("rds", region)
    for db in _all(rds, "describe_db_instances", "DBInstances"):
        yield _resource(account, region, "rds:db", db["DBInstanceArn"], _tags(db.get("TagList")))


def _functions(account: _Account, region: str) -> Iterator[SeededResource]:
    lambda_ = account.client("lambda", region)
    for function in _all(lambda_, "list_functions", "Functions"):
        arn = function["FunctionArn"]
        tags = lambda_.list_tags(Resource=arn).get("Tags", {})
        yield _resource(account, region, "lambda:function", arn, dict(tags))


def _tables(account: _Account, region: str) -> Iterator[SeededResource]:
    dynamodb = account.client("dynamodb", region)
    for name in _all(dynamodb, "list_tables", "TableNames"):
        arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
        tags = dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags")
        yield _resource(account, region, "dynamodb:table", arn, _tags(tags))


def _queues(account: _Account, region: str) -> Iterator[SeededResource]:
    sqs = account.client("sqs", region)
    for url in sqs.list_queues().get("QueueUrls", []):
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        yield _resource(account, region, "sqs:queue", arn["QueueArn"], dict(tags))


def _topics(account: _Account, region: str) -> Iterator[SeededResource]:
    sns = account.client("sns", region)
    for topic in _all(sns, "list_topics", "Topics"):
        arn = topic["TopicArn"]
        tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags")
        yield _resource(account, region, "sns:topic", arn, _tags(tags))


def _streams(account: _Account, region: str) -> Iterator[SeededResource]:
    kinesis = account.client("kinesis", region)
    for stream in _all(kinesis, "list_streams", "StreamSummaries"):
        tags = kinesis.list_tags_for_stream(StreamName=stream["StreamName"]).get("Tags")
        yield _resource(account, region, "kinesis:stream", stream["StreamARN"], _tags(tags))


def _file_systems(account: _Account, region: str) -> Iterator[SeededResource]:
    efs = account.client("efs", region)
    for fs in _all(efs, "describe_file_systems", "FileSystems"):
        arn = fs["FileSystemArn"]
        yield _resource(account, region, "elasticfilesystem:file-system", arn, _tags(fs["Tags"]))


def _repositories(account: _Account, region: str) -> Iterator[SeededResource]:
    ecr = account.client("ecr", region)
    for repository in _all(ecr, "describe_repositories", "repositories"):
        arn = repository["repositoryArn"]
        tags = ecr.list_tags_for_resource(resourceArn=arn).get("tags")
        yield _resource(account, region, "ecr:repository", arn, _tags(tags))


def _log_groups(account: _Account, region: str) -> Iterator[SeededResource]:
    logs = account.client("logs", region)
    for group in _all(logs, "describe_log_groups", "logGroups"):
        # ``arn`` ends in ":*" (the group's streams); the group itself is ``logGroupArn``.
        arn = group["logGroupArn"]
        tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
        yield _resource(account, region, "logs:log-group", arn, dict(tags))


def _ecs(account: _Account, region: str) -> Iterator[SeededResource]:
    ecs = account.client("ecs", region)
    cluster_arns = list(_all(ecs, "list_clusters", "clusterArns"))
    if not cluster_arns:
        return
    for cluster in ecs.describe_clusters(clusters=cluster_arns, include=["TAGS"])["clusters"]:
        tags = _tags(cluster.get("tags"), "key", "value")
        yield _resource(account, region, "ecs:cluster", cluster["clusterArn"], tags)
        service_arns = list(
            _all(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"])
        )
        for start in range(0, len(service_arns), 10):  # DescribeServices takes ten at a time
            services = ecs.describe_services(
                cluster=cluster["clusterArn"],
                services=service_arns[start : start + 10],
                include=["TAGS"],
            )["services"]
            for service in services:
                tags = _tags(service.get("tags"), "key", "value")
                yield _resource(account, region, "ecs:service", service["serviceArn"], tags)


def _load_balancers(account: _Account, region: str) -> Iterator[SeededResource]:
    elbv2 = account.client("elbv2", region)
    for balancer in _all(elbv2, "describe_load_balancers", "LoadBalancers"):
        arn = balancer["LoadBalancerArn"]
        tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags")
        yield _resource(account, region, "elasticloadbalancing:loadbalancer", arn, _tags(tags))


_REGIONAL_DESCRIBERS: tuple[_Describer, ...] = (
    _ec2_resources,
    _databases,
    _functions,
    _tables,
    _queues,
    _topics,
    _streams,
    _file_systems,
    _repositories,
    _log_groups,
    _ecs,
    _load_balancers,
)
