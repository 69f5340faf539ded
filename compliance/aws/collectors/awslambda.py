"""Lambda functions (``lambda`` itself is a Python keyword, hence the module name).

ListFunctions lists every function, never-tagged ones included, with its ARN, runtime and
state; tags come from the Resource Groups Tagging API, 100 functions a call (no ListTags per
function). Only unqualified functions are listed, not each version. Functions have no deleting
state: a deleted function leaves the list.
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


def _functions(scope: Scope) -> Iterator[DiscoveredResource]:
    lambda_ = scope.client("lambda")
    # Without FunctionVersion=ALL only the unqualified function is listed, not each version:
    # versions share the function's tags and cost.
    for function in items(lambda_, "list_functions", "Functions"):
        yield scope.resource(
            "lambda:function",
            function["FunctionArn"],
            function["FunctionName"],
            {},
            attributes(
                # Container-image functions have no runtime; ListFunctions omits State.
                runtime=function.get("Runtime"),
                state=function.get("State"),
                vpc_id=(function.get("VpcConfig") or {}).get("VpcId"),
            ),
        )


COLLECTORS = (
    Collector(
        "lambda:function",
        "lambda",
        ("lambda:ListFunctions", TAGGING_API_ACTION),
        _functions,
        tags=TagSource.TAGGING_API,
        label="Lambda function",
        list_call="lambda:ListFunctions",
        console=(
            "https://{region}.console.aws.amazon.com/lambda/home?region={region}#/functions/{name}"
        ),
        custodian="aws.lambda",
    ),
)
