"""EC2 Auto Scaling groups.

Listed with DescribeAutoScalingGroups, which returns every group of the region, tagged or not,
with its ARN and its tags: one call per page (up to 100 groups), no tag call. Groups being
deleted are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, tag_dict

#: A group being deleted carries this status; a healthy group has none.
_GONE_STATES = frozenset({"Delete in progress"})

#: The most groups DescribeAutoScalingGroups returns in one page (AWS's default is 50).
_MOST_PER_PAGE = 100


def _launch_template_name(group: dict[str, Any]) -> str | None:
    """The group's launch template, set directly or through a mixed instances policy."""
    template = group.get("LaunchTemplate") or (
        (group.get("MixedInstancesPolicy") or {})
        .get("LaunchTemplate", {})
        .get("LaunchTemplateSpecification")
    )
    return (template or {}).get("LaunchTemplateName")


def _groups(scope: Scope) -> Iterator[DiscoveredResource]:
    autoscaling = scope.client("autoscaling")
    for group in items(
        autoscaling,
        "describe_auto_scaling_groups",
        "AutoScalingGroups",
        default_page_size=_MOST_PER_PAGE,
    ):
        status = group.get("Status")
        if status in _GONE_STATES:
            continue
        yield scope.resource(
            "autoscaling:autoScalingGroup",
            group["AutoScalingGroupARN"],
            group["AutoScalingGroupName"],
            # Each tag also names its group and whether it propagates; only key and value count.
            tag_dict(group.get("Tags")),
            attributes(
                state=status,
                desired_capacity=group.get("DesiredCapacity"),
                min_size=group.get("MinSize"),
                max_size=group.get("MaxSize"),
                launch_template=_launch_template_name(group),
                launch_configuration=group.get("LaunchConfigurationName"),
            ),
        )


COLLECTORS = (
    Collector(
        "autoscaling:autoScalingGroup",
        "autoscaling",
        ("autoscaling:DescribeAutoScalingGroups",),
        _groups,
        label="Auto Scaling group",
        list_call="autoscaling:DescribeAutoScalingGroups",
        console="https://{region}.console.aws.amazon.com/ec2/home?region={region}"
        "#AutoScalingGroupDetails:id={name};view=details",
        custodian="aws.asg",
    ),
)
