"""SQS queues. ListQueues returns every queue's URL, never-tagged queues included; the queue's
ARN follows from its URL, and tags come from the Resource Groups Tagging API, 100 queues a call
(no ListQueueTags per queue). Queues have no deleting state: a deleted queue leaves the list.
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

#: ListQueues only paginates (returns a NextToken) when asked for a page size; without one it
#: stops silently after 1,000 queues. So we always ask, for the largest page it allows.
LIST_PAGE_SIZE = 1000


def _queues(scope: Scope) -> Iterator[DiscoveredResource]:
    sqs = scope.client("sqs")
    for url in items(sqs, "list_queues", "QueueUrls", default_page_size=LIST_PAGE_SIZE):
        # The URL ends with the queue name; the ARN follows from it without a
        # GetQueueAttributes call per queue.
        name = url.rstrip("/").rsplit("/", 1)[-1]
        yield scope.resource("sqs:queue", scope.arn("sqs", name), name, {})


COLLECTORS = (
    Collector(
        "sqs:queue",
        "sqs",
        ("sqs:ListQueues", TAGGING_API_ACTION),
        _queues,
        tags=TagSource.TAGGING_API,
        label="SQS queue",
        list_call="sqs:ListQueues",
        console=(
            "https://{region}.console.aws.amazon.com/sqs/v3/home?region={region}"
            "#/queues/https%3A%2F%2Fsqs.{region}.amazonaws.com%2F{account}%2F{name}"
        ),
        custodian="aws.sqs",
    ),
)
