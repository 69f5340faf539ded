"""Synthetic estates for benchmarks: deterministic, realistic tag mixes, no AWS involved."""

from __future__ import annotations

import random
from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource

ACCOUNT_ID = "123456789012"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
TYPES = (
    "ec2:instance",
    "ec2:volume",
    "s3:bucket",
    "rds:db",
    "lambda:function",
    "dynamodb:table",
    "sqs:queue",
    "logs:log-group",
)
OWNERS = ("ann@example.com", "bob@example.com", "Bob", "platform")
COST_CENTERS = ("CC-1001", "CC-1002", "CC-2001", "CC-9999")
ENVIRONMENTS = ("production", "staging", "development", "prod")


def tags_for(rng: random.Random) -> dict[str, str]:
    """About half compliant; the rest spread over every kind of violation, some untagged."""
    roll = rng.random()
    if roll < 0.08:
        return {}
    tags = {
        "Owner": rng.choice(OWNERS[:2]),
        "CostCenter": rng.choice(COST_CENTERS[:3]),
        "Environment": rng.choice(ENVIRONMENTS[:3]),
        "Project": f"proj-{rng.randrange(40)}",
        "Name": f"res-{rng.randrange(10**6)}",
    }
    if roll < 0.55:
        return tags
    if roll < 0.7:
        tags.pop(rng.choice(["Owner", "CostCenter", "Environment"]))
    elif roll < 0.8:
        tags["Environment"] = "prod"
    elif roll < 0.9:
        tags["Owner"] = rng.choice(OWNERS[2:])
    else:
        tags["costcenter"] = tags.pop("CostCenter")
    return tags


def estate(
    size: int, *, seed: int = 1, account_id: str = ACCOUNT_ID
) -> Iterator[DiscoveredResource]:
    rng = random.Random(seed)
    for index in range(size):
        region = REGIONS[index % len(REGIONS)]
        resource_type = TYPES[index % len(TYPES)]
        service, kind = resource_type.split(":")
        yield DiscoveredResource(
            arn=f"arn:aws:{service}:{region}:{account_id}:{kind}/bench-{seed}-{index:08d}",
            resource_type=resource_type,
            account_id=account_id,
            region=region,
            name=f"bench-{index}",
            tags=tags_for(rng),
            attributes={"vpc_id": f"vpc-{index % 17:04x}"},
        )
