"""DynamoDB tables. ListTables returns every table's name, never-tagged tables included;
DescribeTable, one per table, gives its ARN, state and billing mode; tags come from the
Resource Groups Tagging API, 100 tables a call (no ListTagsOfResource per table). Tables being
deleted are left out.
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
    unless_vanished,
)

_GONE_STATES = frozenset({"DELETING"})


def _tables(scope: Scope) -> Iterator[DiscoveredResource]:
    dynamodb = scope.client("dynamodb")
    for name in items(dynamodb, "list_tables", "TableNames"):
        # One DescribeTable per table is the one per-resource call left: ListTables gives
        # names only, DynamoDB has no batch describe, and only DescribeTable says whether a
        # table is being deleted (ListTables still lists it).
        described = unless_vanished(dynamodb.describe_table, TableName=name)
        if described is None or described["Table"]["TableStatus"] in _GONE_STATES:
            continue
        table = described["Table"]
        yield scope.resource(
            "dynamodb:table",
            table["TableArn"],
            name,
            {},
            attributes(
                state=table["TableStatus"],
                billing_mode=(table.get("BillingModeSummary") or {}).get("BillingMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "dynamodb:table",
        "dynamodb",
        ("dynamodb:DescribeTable", "dynamodb:ListTables", TAGGING_API_ACTION),
        _tables,
        tags=TagSource.TAGGING_API,
        label="DynamoDB table",
        list_call="dynamodb:ListTables",
        console=(
            "https://{region}.console.aws.amazon.com/dynamodbv2/home?region={region}"
            "#table?name={name}"
        ),
        custodian="aws.dynamodb-table",
    ),
)
