"""SNS topics. ListTopics returns every topic's ARN, never-tagged topics included, 100 per page
(a size SNS alone decides); tags come from the Resource Groups Tagging API, 100 topics a call
(no ListTagsForResource per topic). Topics have no deleting state: a deleted topic leaves the
list.
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


def _topics(scope: Scope) -> Iterator[DiscoveredResource]:
    sns = scope.client("sns")
    for topic in items(sns, "list_topics", "Topics", sized=False):
        arn = topic["TopicArn"]
        yield scope.resource("sns:topic", arn, arn.rsplit(":", 1)[-1], {})


COLLECTORS = (
    Collector(
        "sns:topic",
        "sns",
        ("sns:ListTopics", TAGGING_API_ACTION),
        _topics,
        tags=TagSource.TAGGING_API,
        label="SNS topic",
        list_call="sns:ListTopics",
        console="https://{region}.console.aws.amazon.com/sns/v3/home?region={region}#/topic/{arn}",
        custodian="aws.sns",
    ),
)
