"""Lambda functions (``lambda`` itself is a Python keyword, hence the module name).

ListFunctions does not return tags, so each function costs one ListTags call.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, attributes, items, unless_vanished


def _functions(scope: Scope) -> Iterator[DiscoveredResource]:
    lambda_ = scope.client("lambda")
    # Without FunctionVersion=ALL only the unqualified function is listed, not each version:
    # versions share the function's tags and cost.
    for function in items(lambda_, "list_functions", "Functions"):
        arn = function["FunctionArn"]
        listed = unless_vanished(lambda_.list_tags, Resource=arn)
        if listed is None:
            continue
        yield scope.resource(
            "lambda:function",
            arn,
            function["FunctionName"],
            dict(listed.get("Tags", {})),
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
        ("lambda:ListFunctions", "lambda:ListTags"),
        _functions,
    ),
)
