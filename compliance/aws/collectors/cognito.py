"""Amazon Cognito user pools.

ListUserPools lists every user pool of the region, never-tagged ones included, with its id and
name but neither its ARN nor its tags (only DescribeUserPool, one call per pool, has those).
ARNs are built from the ids; tags come from the Resource Groups Tagging API, 100 pools a call.
User pools have no deleting state: a deleted pool leaves the list. Identity pools are another
service's resource and are not listed here.
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

#: ListUserPools requires MaxResults (botocore refuses the call without it) and allows 60.
LIST_PAGE_SIZE = 60


def _user_pools(scope: Scope) -> Iterator[DiscoveredResource]:
    cognito = scope.client("cognito-idp")
    for pool in items(cognito, "list_user_pools", "UserPools", default_page_size=LIST_PAGE_SIZE):
        yield scope.resource(
            "cognito-idp:userpool",
            scope.arn("cognito-idp", f"userpool/{pool['Id']}"),
            pool.get("Name") or pool["Id"],
            {},
        )


COLLECTORS = (
    Collector(
        "cognito-idp:userpool",
        "cognito-idp",
        ("cognito-idp:ListUserPools", TAGGING_API_ACTION),
        _user_pools,
        tags=TagSource.TAGGING_API,
        label="Cognito user pool",
        list_call="cognito-idp:ListUserPools",
        console=(
            "https://{region}.console.aws.amazon.com/cognito/v2/idp/user-pools/{id}/overview"
            "?region={region}"
        ),
        custodian="aws.user-pool",
    ),
)
