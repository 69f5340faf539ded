"""The demo estate's newer services, and what seeding makes without asking.

Seeded per region, as teams use them: secrets beside their applications, alarms on them, a state
machine per data pipeline, a customer-managed key per team that encrypts. Described, besides
those: what AWS (moto) and the seeding create on their own and a complete scan lists too: the
network interfaces of instances, NAT gateways and load balancers, each VPC's route tables, each
region's default event bus, the task definitions behind the ECS services and the Lambda role.

As in :mod:`compliance.demo.estate`, the describers are written against the plain APIs and not
through the collectors, whose answers they are the check of.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compliance.demo.estate import SeededResource, _Account, _RegionSeeder

#: The types this module seeds or describes, as AWS tag policies name them.
RESOURCE_TYPES: tuple[str, ...] = (
    "cloudwatch:alarm",
    "ec2:network-interface",
    "ec2:route-table",
    "ecs:task-definition",
    "events:event-bus",
    "iam:role",
    "kms:key",
    "secretsmanager:secret",
    "states:stateMachine",
)

_PIPELINE = json.dumps(
    {"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}}, sort_keys=True
)


def seed_region(seeder: _RegionSeeder, role_arn: str) -> None:
    """Secrets, alarms, state machines and keys in one region of one account."""
    from compliance.demo.estate import _tag_argument

    account, region, recipe = seeder.account, seeder.region, seeder.recipe
    secrets = account.client("secretsmanager", region)
    for _ in range(recipe.secrets):
        workload = seeder.pick()
        tags = seeder.tagger.tags("secretsmanager:secret", workload)
        secrets.create_secret(
            Name=seeder.next_name(f"{workload.prefix}-db-credentials"),
            SecretString="demo-only",  # nosec B106  # a fake AWS's sample value
            **_tag_argument("Tags", tags),
        )
    cloudwatch = account.client("cloudwatch", region)
    for _ in range(recipe.alarms):
        workload = seeder.pick()
        tags = seeder.tagger.tags("cloudwatch:alarm", workload)
        cloudwatch.put_metric_alarm(
            AlarmName=seeder.next_name(f"{workload.prefix}-cpu-high"),
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=300,
            EvaluationPeriods=2,
            Threshold=80.0,
            ComparisonOperator="GreaterThanThreshold",
            **_tag_argument("Tags", tags),
        )
    states = account.client("stepfunctions", region)
    for _ in range(recipe.state_machines):
        workload = seeder.pick()
        tags = seeder.tagger.tags("states:stateMachine", workload)
        states.create_state_machine(
            name=seeder.next_name(f"{workload.prefix}-pipeline"),
            definition=_PIPELINE,
            roleArn=role_arn,
            **_tag_argument("tags", tags, "ecs"),
        )
    kms = account.client("kms", region)
    for _ in range(recipe.keys):
        workload = seeder.pick()
        tags = seeder.tagger.tags("kms:key", workload)
        kms.create_key(
            Description=f"{workload.prefix} data key",
            **_tag_argument("Tags", tags, "kms"),
        )
    seeder.say(
        f"{recipe.secrets} secrets, {recipe.alarms} alarms, "
        f"{recipe.state_machines} state machines, {recipe.keys} keys"
    )


Describer = Callable[["_Account", str], Iterator["SeededResource"]]


def _found(
    account: _Account, region: str, resource_type: str, arn: str, tags: dict[str, str]
) -> SeededResource:
    from compliance.demo.estate import SeededResource

    return SeededResource(arn, resource_type, region, account.account_id, tags)


def tag_pairs(
    tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """An AWS tag list as a dict (the key and value names vary by service)."""
    return {tag[key]: tag[value] for tag in tags or ()}


def every(client: Any, operation: str, result_key: str, **params: Any) -> Iterator[Any]:
    """The ``result_key`` items of every page of a paginated call."""
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(result_key, [])


def _network(account: _Account, region: str) -> Iterator[SeededResource]:
    ec2 = account.client("ec2", region)
    prefix = f"arn:aws:ec2:{region}:{account.account_id}"
    for eni in every(ec2, "describe_network_interfaces", "NetworkInterfaces"):
        arn = f"{prefix}:network-interface/{eni['NetworkInterfaceId']}"
        yield _found(account, region, "ec2:network-interface", arn, tag_pairs(eni.get("TagSet")))
    for table in every(ec2, "describe_route_tables", "RouteTables"):
        arn = f"{prefix}:route-table/{table['RouteTableId']}"
        yield _found(account, region, "ec2:route-table", arn, tag_pairs(table.get("Tags")))


def _task_definitions(account: _Account, region: str) -> Iterator[SeededResource]:
    ecs = account.client("ecs", region)
    for arn in every(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"):
        tags = ecs.list_tags_for_resource(resourceArn=arn).get("tags")
        yield _found(account, region, "ecs:task-definition", arn, tag_pairs(tags, "key", "value"))


def _event_buses(account: _Account, region: str) -> Iterator[SeededResource]:
    events = account.client("events", region)
    # ListEventBuses has no paginator; the demo has one bus per region.
    for bus in events.list_event_buses().get("EventBuses", []):
        tags = events.list_tags_for_resource(ResourceARN=bus["Arn"]).get("Tags")
        yield _found(account, region, "events:event-bus", bus["Arn"], tag_pairs(tags))


def _secrets(account: _Account, region: str) -> Iterator[SeededResource]:
    secrets = account.client("secretsmanager", region)
    for secret in every(secrets, "list_secrets", "SecretList"):
        tags = tag_pairs(secret.get("Tags"))
        yield _found(account, region, "secretsmanager:secret", secret["ARN"], tags)


def _alarms(account: _Account, region: str) -> Iterator[SeededResource]:
    cloudwatch = account.client("cloudwatch", region)
    for alarm in every(cloudwatch, "describe_alarms", "MetricAlarms"):
        arn = alarm["AlarmArn"]
        tags = cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags")
        yield _found(account, region, "cloudwatch:alarm", arn, tag_pairs(tags))


def _state_machines(account: _Account, region: str) -> Iterator[SeededResource]:
    states = account.client("stepfunctions", region)
    for machine in every(states, "list_state_machines", "stateMachines"):
        arn = machine["stateMachineArn"]
        tags = states.list_tags_for_resource(resourceArn=arn).get("tags")
        yield _found(account, region, "states:stateMachine", arn, tag_pairs(tags, "key", "value"))


def _keys(account: _Account, region: str) -> Iterator[SeededResource]:
    kms = account.client("kms", region)
    for key in every(kms, "list_keys", "Keys"):
        tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags")
        yield _found(
            account, region, "kms:key", key["KeyArn"], tag_pairs(tags, "TagKey", "TagValue")
        )


REGIONAL_DESCRIBERS: tuple[Describer, ...] = (
    _network,
    _task_definitions,
    _event_buses,
    _secrets,
    _alarms,
    _state_machines,
    _keys,
)


def describe_roles(account: _Account, region: str) -> Iterator[SeededResource]:
    """IAM roles, filed under ``global`` (IAM is not regional); asked in ``region``."""
    iam = account.client("iam", region)
    for role in every(iam, "list_roles", "Roles"):
        if role.get("Path", "/").startswith("/aws-service-role/"):
            continue
        tags = iam.list_role_tags(RoleName=role["RoleName"]).get("Tags")
        yield _found(account, "global", "iam:role", role["Arn"], tag_pairs(tags))
