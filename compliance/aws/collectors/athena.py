"""Athena workgroups.

ListWorkGroups lists every workgroup of the region (``primary`` included) with its state, but
neither ARN nor tags; tags come from the Resource Groups Tagging API, by the ARN built as
``...:workgroup/NAME``. A workgroup has no deleting state (only ENABLED and DISABLED): a deleted
one is no longer listed. Disabled workgroups are kept: they still hold tags and query history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    page_size,
)


def _work_group_pages(athena: Any) -> Iterator[dict[str, Any]]:
    """Every page of ListWorkGroups, followed by hand: botocore has no paginator for it."""
    params: dict[str, Any] = {}
    if size := page_size():
        params["MaxResults"] = size
    while True:
        page = athena.list_work_groups(**params)
        yield page
        token = page.get("NextToken")
        # Guard against an endpoint that hands back the same token and never moves on.
        if not token or token == params.get("NextToken"):
            return
        params["NextToken"] = token


def _work_groups(scope: Scope) -> Iterator[DiscoveredResource]:
    athena = scope.client("athena")
    for page in _work_group_pages(athena):
        for group in page.get("WorkGroups", []):
            name = group["Name"]
            yield scope.resource(
                "athena:workgroup",
                scope.arn("athena", f"workgroup/{name}"),
                name,
                {},
                attributes(
                    state=group.get("State"),
                    engine_version=(group.get("EngineVersion") or {}).get("EffectiveEngineVersion"),
                ),
            )


COLLECTORS = (
    Collector(
        "athena:workgroup",
        "athena",
        ("athena:ListWorkGroups", TAGGING_API_ACTION),
        _work_groups,
        tags=TagSource.TAGGING_API,
        label="Athena workgroup",
        list_call="athena:ListWorkGroups",
        console=(
            "https://{region}.console.aws.amazon.com/athena/home?region={region}"
            "#/workgroups/details/{name}"
        ),
        custodian="aws.athena-work-group",
    ),
)
