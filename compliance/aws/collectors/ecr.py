"""ECR repositories. DescribeRepositories has no tags; ListTagsForResource, one call each."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, items, tag_dict, unless_vanished


def _repositories(scope: Scope) -> Iterator[DiscoveredResource]:
    ecr = scope.client("ecr")
    for repository in items(ecr, "describe_repositories", "repositories"):
        arn = repository["repositoryArn"]
        listed = unless_vanished(ecr.list_tags_for_resource, resourceArn=arn)
        if listed is None:
            continue
        tags = tag_dict(listed.get("tags"))
        yield scope.resource("ecr:repository", arn, repository["repositoryName"], tags)


COLLECTORS = (
    Collector(
        "ecr:repository",
        "ecr",
        ("ecr:DescribeRepositories", "ecr:ListTagsForResource"),
        _repositories,
    ),
)
