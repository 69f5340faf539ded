"""SNS topics. ListTopics returns ARNs only, 100 per page (a size SNS alone decides)."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, items, tag_dict, unless_vanished


def _topics(scope: Scope) -> Iterator[DiscoveredResource]:
    sns = scope.client("sns")
    for topic in items(sns, "list_topics", "Topics", sized=False):
        arn = topic["TopicArn"]
        listed = unless_vanished(sns.list_tags_for_resource, ResourceArn=arn)
        if listed is None:
            continue
        tags = tag_dict(listed.get("Tags"))
        yield scope.resource("sns:topic", arn, arn.rsplit(":", 1)[-1], tags)


COLLECTORS = (
    Collector("sns:topic", "sns", ("sns:ListTagsForResource", "sns:ListTopics"), _topics),
)
