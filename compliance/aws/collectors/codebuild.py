"""CodeBuild projects.

ListProjects returns project names only; BatchGetProjects describes up to 100 of them a call,
ARN and tags included, so tags are read from that answer. A project has no deleting state: a
project deleted between the two calls is simply missing from the batch answer, and left out.
Projects shared with the account by another are not listed (ListProjects lists own ones only).
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    chunks,
    items,
    page_size,
    tag_dict,
)

#: The most names BatchGetProjects accepts in one call.
PROJECTS_PER_CALL = 100


def _projects(scope: Scope) -> Iterator[DiscoveredResource]:
    codebuild = scope.client("codebuild")
    # ListProjects takes no page size (AWS pages it by 100): botocore refuses a PageSize.
    names = list(items(codebuild, "list_projects", "projects", sized=False))
    # A forced page size applies to the batch describe too, so tests can see several batches.
    for batch in chunks(names, page_size(PROJECTS_PER_CALL) or PROJECTS_PER_CALL):
        for project in codebuild.batch_get_projects(names=list(batch)).get("projects", []):
            environment = project.get("environment") or {}
            yield scope.resource(
                "codebuild:project",
                project["arn"],
                project["name"],
                tag_dict(project.get("tags"), key="key", value="value"),
                attributes(
                    source_type=(project.get("source") or {}).get("type"),
                    environment_type=environment.get("type"),
                    compute_type=environment.get("computeType"),
                    vpc_id=(project.get("vpcConfig") or {}).get("vpcId"),
                ),
            )


COLLECTORS = (
    Collector(
        "codebuild:project",
        "codebuild",
        ("codebuild:BatchGetProjects", "codebuild:ListProjects"),
        _projects,
        label="CodeBuild project",
        list_call="codebuild:ListProjects",
        console=(
            "https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}"
            "/projects/{name}?region={region}"
        ),
        custodian="aws.codebuild",
    ),
)
