"""CloudWatch Logs log groups. DescribeLogGroups has no tags; ListTagsForResource, one each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, unless_vanished


def _arn(scope: Scope, group: dict[str, Any]) -> str:
    # ``arn`` ends in ":*" (it covers the group's streams); the tagging APIs and the cost data
    # want the group itself, which newer responses give as ``logGroupArn``.
    if group.get("logGroupArn"):
        return str(group["logGroupArn"])
    return scope.arn("logs", f"log-group:{group['logGroupName']}")


def _log_groups(scope: Scope) -> Iterator[DiscoveredResource]:
    logs = scope.client("logs")
    for group in items(logs, "describe_log_groups", "logGroups"):
        arn = _arn(scope, group)
        listed = unless_vanished(logs.list_tags_for_resource, resourceArn=arn)
        if listed is None:
            continue
        yield scope.resource(
            "logs:log-group",
            arn,
            group["logGroupName"],
            dict(listed.get("tags", {})),
            attributes(
                retention_days=group.get("retentionInDays"),
                log_group_class=group.get("logGroupClass"),
            ),
        )


COLLECTORS = (
    Collector(
        "logs:log-group",
        "logs",
        ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
        _log_groups,
    ),
)
