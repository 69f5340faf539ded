"""Read-only AWS calls behind the security checklist (``compliance.checklist``).

Each function answers one question with plain values; deciding pass or fail is the checklist's
job. Every call is in ``CHECKLIST_IAM_ACTIONS``, which the generated IAM policy includes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from compliance.aws.session import DEFAULT_REGION, client

CHECKLIST_IAM_ACTIONS = (
    "ce:ListCostAllocationTags",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "ec2:DescribeInstances",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
)

#: Checks fail fast: an operator waits for the command, and the answer is "unknown" anyway.
_ATTEMPTS = 2
_OPEN_TO_ALL = {"0.0.0.0/0", "::/0"}

#: How boto3 says where credentials came from (``Credentials.method``), by verdict.
ROLE_CREDENTIAL_METHODS = frozenset(
    {"iam-role", "container-role", "assume-role-with-web-identity", "assume-role"}
)
STATIC_CREDENTIAL_METHODS = frozenset(
    {"env", "shared-credentials-file", "config-file", "boto-config", "ec2-credentials-file"}
)


def default_session() -> boto3.session.Session:
    return boto3.session.Session()


def _client(session: boto3.session.Session, service: str, region: str) -> Any:
    return client(session, service, region, max_attempts=_ATTEMPTS, read_timeout=20)


def credential_method(session: boto3.session.Session | None = None) -> str | None:
    """How the default chain found credentials (``env``, ``iam-role``...), ``None`` if none.

    Resolving does not call AWS for static credentials; for a role it fetches them from the
    instance or task metadata endpoint, which is what a scan would do first anyway.
    """
    credentials = (session or default_session()).get_credentials()
    return None if credentials is None else str(credentials.method)


@dataclass(frozen=True, slots=True)
class TrailStatus:
    name: str
    home_region: str
    multi_region: bool
    logging: bool


def cloudtrail_status(session: boto3.session.Session, region: str) -> list[TrailStatus]:
    """Every trail that covers ``region`` (shadow copies of other regions' multi-region trails
    included), with whether it is logging now."""
    trails = _client(session, "cloudtrail", region).describe_trails(includeShadowTrails=True)[
        "trailList"
    ]
    statuses = []
    for trail in trails:
        home = trail.get("HomeRegion", region)
        status = _client(session, "cloudtrail", home).get_trail_status(Name=trail["TrailARN"])
        statuses.append(
            TrailStatus(
                name=trail["Name"],
                home_region=home,
                multi_region=bool(trail.get("IsMultiRegionTrail")),
                logging=bool(status.get("IsLogging")),
            )
        )
    return statuses


def load_balancer_access_logs(session: boto3.session.Session, arn: str) -> bool:
    """Whether the ALB/NLB ``arn`` writes access logs (``access_logs.s3.enabled``)."""
    region = arn.split(":")[3] or DEFAULT_REGION
    attributes = _client(session, "elbv2", region).describe_load_balancer_attributes(
        LoadBalancerArn=arn
    )["Attributes"]
    values = {str(a["Key"]): str(a.get("Value", "")) for a in attributes}
    return values.get("access_logs.s3.enabled", "false").lower() == "true"


@dataclass(frozen=True, slots=True)
class ServerExposure:
    instance_id: str
    public_ip: str | None
    vpc_id: str | None
    #: Security group rules letting anyone in: "sg-1 tcp 443 from 0.0.0.0/0".
    open_ingress: list[str] = field(default_factory=list)
    #: Services with an interface or gateway endpoint in the VPC ("sts", "ec2", "s3"...).
    vpc_endpoint_services: list[str] = field(default_factory=list)


def _open_rules(groups: Iterable[dict[str, Any]]) -> list[str]:
    found = []
    for group in groups:
        for rule in group.get("IpPermissions", []):
            ranges = [r["CidrIp"] for r in rule.get("IpRanges", [])]
            ranges += [r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])]
            for cidr in ranges:
                if cidr in _OPEN_TO_ALL:
                    ports = (
                        "all ports"
                        if rule.get("IpProtocol") == "-1"
                        else f"{rule.get('IpProtocol')} {rule.get('FromPort')}-{rule.get('ToPort')}"
                    )
                    found.append(f"{group['GroupId']} {ports} from {cidr}")
    return found


def server_exposure(
    session: boto3.session.Session, instance_id: str, region: str
) -> ServerExposure:
    """Public IP, world-open inbound rules and VPC endpoints of the instance running us."""
    ec2 = _client(session, "ec2", region)
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = reservations[0]["Instances"][0]
    # Every interface's groups: a second ENI can carry a group the primary one does not.
    attached = [
        *instance.get("SecurityGroups", []),
        *(g for eni in instance.get("NetworkInterfaces", []) for g in eni.get("Groups", [])),
    ]
    group_ids = sorted({g["GroupId"] for g in attached})
    groups = ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"] if group_ids else []
    vpc_id = instance.get("VpcId")
    services: list[str] = []
    if vpc_id:
        endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "VpcEndpoints"
        ]
        services = sorted({e["ServiceName"].rsplit(".", 1)[-1] for e in endpoints})
    return ServerExposure(
        instance_id=instance_id,
        public_ip=instance.get("PublicIpAddress"),
        vpc_id=vpc_id,
        open_ingress=_open_rules(groups),
        vpc_endpoint_services=services,
    )


def cost_allocation_tag_status(
    session: boto3.session.Session, tag_keys: Sequence[str]
) -> dict[str, str]:
    """Tag key -> ``Active`` or ``Inactive`` for the user-defined cost allocation tags among
    ``tag_keys``; a key Billing has never seen on a resource is absent (so not activatable yet).

    Cost Explorer is a global service answered in us-east-1 (aws-cn: cn-northwest-1).
    """
    region = "cn-northwest-1" if (session.region_name or "").startswith("cn-") else DEFAULT_REGION
    ce = _client(session, "ce", region)
    found: dict[str, str] = {}
    # The API takes at most 100 keys per call.
    for start in range(0, len(tag_keys), 100):
        params: dict[str, object] = {"TagKeys": list(tag_keys[start : start + 100])}
        while True:
            page = ce.list_cost_allocation_tags(Type="UserDefined", **params)
            for tag in page.get("CostAllocationTags", []):
                found[tag["TagKey"]] = tag["Status"]
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
    return found
