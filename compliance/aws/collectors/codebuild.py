"""CodeBuild projects.

ListProjects returns project names only, and tags come from the Resource Groups Tagging API by
ARN (``...:project/NAME``, the form IAM, the tagging API and the bill use). BatchGetProjects
would give tags too, but with each project's environment variables, plain-text values included:
more than a tag scan should be able to read. A project has no deleting state: a deleted one
simply stops being listed. Projects shared with the account by another are not listed
(ListProjects lists own ones only).
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


def _projects(scope: Scope) -> Iterator[DiscoveredResource]:
    codebuild = scope.client("codebuild")
    # ListProjects takes no page size (AWS pages it by 100): botocore refuses a PageSize.
    for name in items(codebuild, "list_projects", "projects", sized=False):
        yield scope.resource(
            "codebuild:project", scope.arn("codebuild", f"project/{name}"), name, {}
        )


COLLECTORS = (
    Collector(
        "codebuild:project",
        "codebuild",
        ("codebuild:ListProjects", TAGGING_API_ACTION),
        _projects,
        tags=TagSource.TAGGING_API,
        label="CodeBuild project",
        list_call="codebuild:ListProjects",
        console=(
            "https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}"
            "/projects/{name}?region={region}"
        ),
        custodian="aws.codebuild",
    ),
)
