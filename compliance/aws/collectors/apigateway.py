"""API Gateway REST APIs (the ``apigateway`` client) and HTTP and WebSocket APIs (the
``apigatewayv2`` client).

GetRestApis and GetApis list every API, never-tagged ones included, each with its tags: no
further call. Neither answer carries an ARN; both are built in the form the Resource Groups
Tagging API and the bill use, which has no account: ``arn:aws:apigateway:REGION::/restapis/ID``
and ``arn:aws:apigateway:REGION::/apis/ID``. APIs have no deleting state: a deleted API leaves
the list. Stages, custom domain names and the other API Gateway types are not listed here.

IAM names API Gateway's management actions by HTTP method, not by operation: both list calls
are authorised by ``apigateway:GET`` (for the v2 API too), so that is the action declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import Collector, Scope, TagSource, attributes, items

#: The IAM action of every API Gateway read, GetRestApis and GetApis included.
APIGATEWAY_READ_ACTION = "apigateway:GET"

#: GetRestApis returns at most 500 a page (25 unless asked).
REST_API_PAGE_SIZE = 500


def _api_arn(scope: Scope, kind: str, api_id: str) -> str:
    # API Gateway ARNs have an empty account field.
    return f"arn:{scope.partition}:apigateway:{scope.region}::/{kind}/{api_id}"


def _endpoint_types(api: dict[str, Any]) -> str:
    return ",".join((api.get("endpointConfiguration") or {}).get("types") or [])


def _rest_apis(scope: Scope) -> Iterator[DiscoveredResource]:
    apigateway = scope.client("apigateway")
    for api in items(apigateway, "get_rest_apis", "items", default_page_size=REST_API_PAGE_SIZE):
        yield scope.resource(
            "apigateway:restapis",
            _api_arn(scope, "restapis", api["id"]),
            api.get("name") or api["id"],
            dict(api.get("tags") or {}),
            attributes(state=api.get("apiStatus"), endpoint_type=_endpoint_types(api)),
        )


def _apis(scope: Scope) -> Iterator[DiscoveredResource]:
    apigatewayv2 = scope.client("apigatewayv2")
    for api in items(apigatewayv2, "get_apis", "Items"):
        yield scope.resource(
            "apigateway:apis",
            _api_arn(scope, "apis", api["ApiId"]),
            api.get("Name") or api["ApiId"],
            dict(api.get("Tags") or {}),
            attributes(
                protocol_type=api.get("ProtocolType"),
                # Created and owned by another service (API Gateway refuses to change it).
                managed="true" if api.get("ApiGatewayManaged") else None,
            ),
        )


_CONSOLE = "https://{region}.console.aws.amazon.com/apigateway/main/"


def _listing(collection: str) -> tuple[str, ...]:
    """The one API Gateway resource a list reads, in every partition: ``apigateway:GET`` on
    ``*`` would also read API keys' values, exports and SDKs."""
    return tuple(
        f"arn:{partition}:apigateway:*::/{collection}"
        for partition in ("aws", "aws-cn", "aws-us-gov")
    )


COLLECTORS = (
    Collector(
        "apigateway:restapis",
        "apigateway",
        (APIGATEWAY_READ_ACTION,),
        _rest_apis,
        tags=TagSource.LISTED,
        iam_resources=_listing("restapis"),
        label="API Gateway REST API",
        list_call=APIGATEWAY_READ_ACTION,
        console=_CONSOLE + "apis/{id}/resources?api={id}&region={region}",
        custodian="aws.rest-api",
    ),
    Collector(
        "apigateway:apis",
        "apigatewayv2",
        (APIGATEWAY_READ_ACTION,),
        _apis,
        tags=TagSource.LISTED,
        iam_resources=_listing("apis"),
        label="API Gateway HTTP or WebSocket API",
        list_call=APIGATEWAY_READ_ACTION,
        console=_CONSOLE + "api-detail?api={id}&region={region}",
        custodian="aws.apigwv2",
    ),
)
