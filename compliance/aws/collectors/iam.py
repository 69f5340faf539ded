"""IAM roles and users, with one tag call each.

The Resource Groups Tagging API does not cover IAM, and ListRoles/ListUsers leave tags out of
their answers, so each role or user costs one ListRoleTags or ListUserTags call (IAM allows 50
tags, one page at its maximum page size). GetAccountAuthorizationDetails would return tags in
the list, but with every policy document of the account: more than a tag scan should be able to
read. IAM is global: listed once per account, filed under the global region. Service-linked
roles (path ``/aws-service-role/``) are left out: AWS owns them and they cannot be tagged. IAM
has no deleting state: a deleted role or user is gone (and a tag call for it answers
NoSuchEntity, which :func:`unless_vanished` takes as gone).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import GLOBAL_REGION, DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
    tag_dict,
    unless_vanished,
)

#: The path prefix of the roles AWS services create and own.
SERVICE_LINKED_PATH = "/aws-service-role/"
#: IAM allows 50 tags per role or user: one tag page of this size holds them all.
TAG_PAGE_SIZE = 100


def _tags(list_tags: Any, **name: str) -> dict[str, str]:
    tags: list[dict[str, str]] = []
    params: dict[str, Any] = {**name, "MaxItems": TAG_PAGE_SIZE}
    while True:
        page = list_tags(**params)
        tags += page.get("Tags", [])
        marker = page.get("Marker")
        # A marker seen before would list the same page again: an endpoint going round ends it.
        if not page.get("IsTruncated") or not marker or marker == params.get("Marker"):
            return tag_dict(tags)
        params["Marker"] = marker


def _roles(scope: Scope) -> Iterator[DiscoveredResource]:
    iam = scope.client("iam")
    for role in items(iam, "list_roles", "Roles"):
        path = role.get("Path", "/")
        if path.startswith(SERVICE_LINKED_PATH):
            continue
        tags = unless_vanished(_tags, iam.list_role_tags, RoleName=role["RoleName"])
        if tags is None:
            continue
        yield scope.resource(
            "iam:role",
            role["Arn"],
            role["RoleName"],
            tags,
            attributes(path=path),
            region=GLOBAL_REGION,
        )


def _users(scope: Scope) -> Iterator[DiscoveredResource]:
    iam = scope.client("iam")
    for user in items(iam, "list_users", "Users"):
        tags = unless_vanished(_tags, iam.list_user_tags, UserName=user["UserName"])
        if tags is None:
            continue
        yield scope.resource(
            "iam:user",
            user["Arn"],
            user["UserName"],
            tags,
            attributes(path=user.get("Path")),
            region=GLOBAL_REGION,
        )


COLLECTORS = (
    Collector(
        "iam:role",
        "iam",
        ("iam:ListRoleTags", "iam:ListRoles"),
        _roles,
        is_global=True,
        tags=TagSource.OWN_CALL,
        label="IAM role",
        list_call="iam:ListRoles",
        console=(
            "https://{region}.console.aws.amazon.com/iam/home?region={region}#/roles/details/{name}"
        ),
        custodian="aws.iam-role",
    ),
    Collector(
        "iam:user",
        "iam",
        ("iam:ListUserTags", "iam:ListUsers"),
        _users,
        is_global=True,
        tags=TagSource.OWN_CALL,
        label="IAM user",
        list_call="iam:ListUsers",
        console=(
            "https://{region}.console.aws.amazon.com/iam/home?region={region}#/users/details/{name}"
        ),
        custodian="aws.iam-user",
    ),
)
