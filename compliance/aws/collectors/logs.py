"""CloudWatch Logs log groups. DescribeLogGroups lists every group, never-tagged ones included,
with what is shown of it (retention, class); tags come from the Resource Groups Tagging API, 100
groups a call (no ListTagsForResource per group). Log groups have no deleting state: a deleted
group leaves the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)


def _arn(scope: Scope, group: dict[str, Any]) -> str:
    # ``arn`` ends in ":*" (it covers the group's streams); the tagging API and the cost data
    # name the group itself, which newer responses give as ``logGroupArn``.
    if group.get("logGroupArn"):
        return str(group["logGroupArn"])
    return scope.arn("logs", f"log-group:{group['logGroupName']}")


def _log_groups(scope: Scope) -> Iterator[DiscoveredResource]:
    logs = scope.client("logs")
    for group in items(logs, "describe_log_groups", "logGroups"):
        yield scope.resource(
            "logs:log-group",
            _arn(scope, group),
            group["logGroupName"],
            {},
            attributes(
                retention_days=group.get("retentionInDays"),
                log_group_class=group.get("logGroupClass"),
            ),
        )


COLLECTORS = (
    Collector(
        "logs:log-group",
        "logs",
        ("logs:DescribeLogGroups", TAGGING_API_ACTION),
        _log_groups,
        tags=TagSource.TAGGING_API,
        label="CloudWatch Logs log group",
        list_call="logs:DescribeLogGroups",
        console=(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            "#logsV2:log-groups/log-group/{name}"
        ),
        custodian="aws.log-group",
    ),
)
