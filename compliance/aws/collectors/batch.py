"""AWS Batch compute environments.

DescribeComputeEnvironments, without names, pages through every compute environment of the
region with its ARN, state and tags: one call a page, nothing more. Environments being deleted
or deleted (``_GONE_STATES``) are left out; disabled or invalid ones are kept, as they may
still hold instances.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items

_GONE_STATES = frozenset({"DELETING", "DELETED"})


def _compute_environments(scope: Scope) -> Iterator[DiscoveredResource]:
    batch = scope.client("batch")
    for environment in items(batch, "describe_compute_environments", "computeEnvironments"):
        status = environment.get("status")
        if status in _GONE_STATES:
            continue
        resources = environment.get("computeResources") or {}
        yield scope.resource(
            "batch:compute-environment",
            environment["computeEnvironmentArn"],
            environment["computeEnvironmentName"],
            # Batch gives tags as a map, not a list of pairs.
            dict(environment.get("tags") or {}),
            attributes(
                state=environment.get("state"),
                status=status,
                type=environment.get("type"),
                compute_type=resources.get("type"),
                orchestration=environment.get("containerOrchestrationType"),
            ),
        )


COLLECTORS = (
    Collector(
        "batch:compute-environment",
        "batch",
        ("batch:DescribeComputeEnvironments",),
        _compute_environments,
        label="Batch compute environment",
        list_call="batch:DescribeComputeEnvironments",
        console=(
            "https://{region}.console.aws.amazon.com/batch/home?region={region}"
            "#compute-environments/detail/{arn}"
        ),
        custodian="aws.batch-compute",
    ),
)
