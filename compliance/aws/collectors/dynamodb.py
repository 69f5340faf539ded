"""DynamoDB tables. ListTables returns names only: DescribeTable gives state and ARN, and tags
come from ListTagsOfResource (itself paginated)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    items,
    tag_dict,
    unless_vanished,
)

_GONE_STATES = frozenset({"DELETING"})


def _table_tags(dynamodb: Any, arn: str) -> dict[str, str]:
    # ListTagsOfResource pages by a size of its own and takes none from the caller.
    return tag_dict(items(dynamodb, "list_tags_of_resource", "Tags", sized=False, ResourceArn=arn))


def _tables(scope: Scope) -> Iterator[DiscoveredResource]:
    dynamodb = scope.client("dynamodb")
    for name in items(dynamodb, "list_tables", "TableNames"):
        described = unless_vanished(dynamodb.describe_table, TableName=name)
        if described is None or described["Table"]["TableStatus"] in _GONE_STATES:
            continue
        table = described["Table"]
        tags = unless_vanished(_table_tags, dynamodb, table["TableArn"])
        if tags is None:
            continue
        yield scope.resource(
            "dynamodb:table",
            table["TableArn"],
            name,
            tags,
            attributes(
                state=table["TableStatus"],
                billing_mode=(table.get("BillingModeSummary") or {}).get("BillingMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "dynamodb:table",
        "dynamodb",
        ("dynamodb:DescribeTable", "dynamodb:ListTables", "dynamodb:ListTagsOfResource"),
        _tables,
    ),
)
