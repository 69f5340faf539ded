"""SQS queues. ListQueues returns URLs only; tags come from ListQueueTags, one call per queue."""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, items, unless_vanished

#: ListQueues only paginates (returns a NextToken) when asked for a page size; without one it
#: stops silently after 1,000 queues. So we always ask, for the largest page it allows.
LIST_PAGE_SIZE = 1000


def _queues(scope: Scope) -> Iterator[DiscoveredResource]:
    sqs = scope.client("sqs")
    for url in items(sqs, "list_queues", "QueueUrls", default_page_size=LIST_PAGE_SIZE):
        # The URL ends with the queue name; the ARN follows from it without a
        # GetQueueAttributes call per queue.
        name = url.rstrip("/").rsplit("/", 1)[-1]
        listed = unless_vanished(sqs.list_queue_tags, QueueUrl=url)
        if listed is None:
            continue
        tags = dict(listed.get("Tags", {}))
        yield scope.resource("sqs:queue", scope.arn("sqs", name), name, tags)


COLLECTORS = (Collector("sqs:queue", "sqs", ("sqs:ListQueueTags", "sqs:ListQueues"), _queues),)
