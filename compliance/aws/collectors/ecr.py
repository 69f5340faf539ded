"""ECR private repositories. DescribeRepositories lists every repository, never-tagged ones
included, with its ARN; tags come from the Resource Groups Tagging API, 100 repositories a call
(no ListTagsForResource per repository). Repositories have no deleting state: a deleted
repository leaves the list.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    items,
)


def _repositories(scope: Scope) -> Iterator[DiscoveredResource]:
    ecr = scope.client("ecr")
    for repository in items(ecr, "describe_repositories", "repositories"):
        yield scope.resource(
            "ecr:repository", repository["repositoryArn"], repository["repositoryName"], {}
        )


COLLECTORS = (
    Collector(
        "ecr:repository",
        "ecr",
        ("ecr:DescribeRepositories", TAGGING_API_ACTION),
        _repositories,
        tags=TagSource.TAGGING_API,
        label="ECR repository",
        list_call="ecr:DescribeRepositories",
        console=(
            "https://{region}.console.aws.amazon.com/ecr/repositories/private/{account}/{name}"
            "?region={region}"
        ),
        custodian="aws.ecr",
    ),
)
