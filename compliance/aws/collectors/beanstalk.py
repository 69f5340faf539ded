"""Elastic Beanstalk environments.

DescribeEnvironments pages through every environment of the region with its ARN, status,
health and platform, but without tags; tags come from the Resource Groups Tagging API
(ListTagsForResource would cost a call per environment). Terminated environments are not asked
for (``IncludeDeleted=False``), and environments terminating or terminated (``_GONE_STATES``)
are left out should they be listed anyway. Applications and application versions are not
listed here: the environment is what runs, and is billed.
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
    items,
)

_GONE_STATES = frozenset({"Terminating", "Terminated"})


def _environments(scope: Scope) -> Iterator[DiscoveredResource]:
    beanstalk = scope.client("elasticbeanstalk")
    for environment in items(
        beanstalk, "describe_environments", "Environments", IncludeDeleted=False
    ):
        status = environment.get("Status")
        if status in _GONE_STATES:
            continue
        yield scope.resource(
            "elasticbeanstalk:environment",
            environment["EnvironmentArn"],
            environment["EnvironmentName"],
            {},
            attributes(
                state=status,
                health=environment.get("Health"),
                application=environment.get("ApplicationName"),
                environment_id=environment.get("EnvironmentId"),
                tier=(environment.get("Tier") or {}).get("Name"),
                platform=environment.get("SolutionStackName"),
            ),
        )


COLLECTORS = (
    Collector(
        "elasticbeanstalk:environment",
        "elasticbeanstalk",
        ("elasticbeanstalk:DescribeEnvironments", TAGGING_API_ACTION),
        _environments,
        tags=TagSource.TAGGING_API,
        label="Elastic Beanstalk environment",
        list_call="elasticbeanstalk:DescribeEnvironments",
        # The console opens one environment by its id (e-...), which the ARN does not carry:
        # this opens the region's environment list, where the name finds it.
        console=(
            "https://{region}.console.aws.amazon.com/elasticbeanstalk/home?region={region}"
            "#/environments"
        ),
        custodian="aws.elasticbeanstalk-environment",
    ),
)
