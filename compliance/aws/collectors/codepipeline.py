"""CodePipeline pipelines.

ListPipelines lists every pipeline of the region with its type and execution mode, but neither
ARN nor tags; tags come from the Resource Groups Tagging API (ListTagsForResource would cost a
call per pipeline). The ARN is built as ``arn:...:codepipeline:REGION:ACCOUNT:NAME``: pipeline
ARNs have no resource-type part. A pipeline has no deleting state: a deleted one is no longer
listed.
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
)


def _pipelines(scope: Scope) -> Iterator[DiscoveredResource]:
    codepipeline = scope.client("codepipeline")
    for pipeline in items(codepipeline, "list_pipelines", "pipelines"):
        name = pipeline["name"]
        yield scope.resource(
            "codepipeline:pipeline",
            scope.arn("codepipeline", name),
            name,
            {},
            attributes(
                pipeline_type=pipeline.get("pipelineType"),
                execution_mode=pipeline.get("executionMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "codepipeline:pipeline",
        "codepipeline",
        ("codepipeline:ListPipelines", TAGGING_API_ACTION),
        _pipelines,
        tags=TagSource.TAGGING_API,
        label="CodePipeline pipeline",
        list_call="codepipeline:ListPipelines",
        console=(
            "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines"
            "/{name}/view?region={region}"
        ),
        custodian="aws.codepipeline",
    ),
)
