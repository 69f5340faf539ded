"""CloudWatch alarms (metric, composite and log alarms), with their tags from the Resource Groups
Tagging API.

DescribeAlarms returns no tags, and only metric alarms unless told which types to return: all
three are asked for, and each page carries one list per type. Alarms have no deleting state
(their state is OK, ALARM or INSUFFICIENT_DATA): a deleted alarm is gone at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    pages,
)

#: DescribeAlarms pages by 100 at most (50 when not asked).
LIST_PAGE_SIZE = 100
#: Each alarm type, and the key of its list in a DescribeAlarms page.
_ALARM_LISTS = {
    "MetricAlarm": "MetricAlarms",
    "CompositeAlarm": "CompositeAlarms",
    "LogAlarm": "LogAlarms",
}


def _alarms(scope: Scope) -> Iterator[DiscoveredResource]:
    cloudwatch = scope.client("cloudwatch")
    for page in pages(
        cloudwatch,
        "describe_alarms",
        default_page_size=LIST_PAGE_SIZE,
        AlarmTypes=list(_ALARM_LISTS),
    ):
        for alarm_type, key in _ALARM_LISTS.items():
            for alarm in page.get(key, []):
                yield scope.resource(
                    "cloudwatch:alarm",
                    alarm["AlarmArn"],
                    alarm["AlarmName"],
                    {},
                    attributes(
                        state=alarm.get("StateValue"),
                        alarm_type=alarm_type,
                        namespace=alarm.get("Namespace"),
                        metric_name=alarm.get("MetricName"),
                    ),
                )


COLLECTORS = (
    Collector(
        "cloudwatch:alarm",
        "cloudwatch",
        ("cloudwatch:DescribeAlarms", TAGGING_API_ACTION),
        _alarms,
        tags=TagSource.TAGGING_API,
        label="CloudWatch alarm",
        list_call="cloudwatch:DescribeAlarms",
        console=(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            "#alarmsV2:alarm/{name}"
        ),
        custodian="aws.alarm",
    ),
)
