"""Every collector, by the resource type it lists (named as AWS tag policies name them)."""

from __future__ import annotations

from compliance.aws.collectors import (
    awslambda,
    dynamodb,
    ec2,
    ecr,
    ecs,
    efs,
    eks,
    elasticache,
    elbv2,
    kinesis,
    logs,
    opensearch,
    rds,
    s3,
    sns,
    sqs,
)
from compliance.aws.collectors.core import Collector

COLLECTORS: dict[str, Collector] = {
    collector.resource_type: collector
    for collector in (
        *awslambda.COLLECTORS,
        *dynamodb.COLLECTORS,
        *ec2.COLLECTORS,
        *ecr.COLLECTORS,
        *ecs.COLLECTORS,
        *efs.COLLECTORS,
        *elasticache.COLLECTORS,
        *elbv2.COLLECTORS,
        *eks.COLLECTORS,
        *kinesis.COLLECTORS,
        *logs.COLLECTORS,
        *opensearch.COLLECTORS,
        *rds.COLLECTORS,
        *s3.COLLECTORS,
        *sns.COLLECTORS,
        *sqs.COLLECTORS,
    )
}

RESOURCE_TYPES: tuple[str, ...] = tuple(sorted(COLLECTORS))

#: Types listed once per account rather than once per region (their jobs' region is "global").
GLOBAL_TYPES: frozenset[str] = frozenset(t for t, c in COLLECTORS.items() if c.is_global)

__all__ = ["COLLECTORS", "GLOBAL_TYPES", "RESOURCE_TYPES", "Collector"]
