"""What the generic tests cannot show for this group.

Against moto: the rules of custom buses as well as the default bus's, and SageMaker resources
being deleted left out (moto deletes at once, so the test sets the state on moto's own model
and moto's response carries it). Against botocore's Stubber (which checks every request and
response against the service model): the pages moto does not make (ListEventBuses, GetApis and
GetRestApis by token, ListDeliveryStreams by start name) followed, an endpoint repeating itself
not followed forever, and rules managed by another AWS service left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.sagemaker.models import sagemaker_backends

from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.core import Scope
from compliance.aws.console import console_url
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT
from tests.compliance.aws.types.apps import (
    make_notebook_instance,
    make_rule,
    make_sagemaker_domain,
    make_sagemaker_endpoint,
)

REGION = "eu-west-1"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


# --- against moto -------------------------------------------------------------------------


def test_rules_of_the_default_bus_and_of_custom_buses_are_listed(collect: Collect) -> None:
    on_default = make_rule(REGION, 0, {})
    on_custom = make_rule(REGION, 1, {}, bus="finops-orders")
    found = collect("events:rule", REGION, tagging={}).resources
    assert on_custom.arn.endswith(":rule/finops-orders/finops-rule-1")
    assert {on_default.arn, on_custom.arn} <= set(found)
    assert found[on_custom.arn].name == on_custom.name
    assert found[on_custom.arn].attributes["event_bus"] == "finops-orders"
    assert found[on_custom.arn].attributes["parent_arn"] == (
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/finops-orders"
    )
    assert found[on_default.arn].attributes["event_bus"] == "default"


def test_sagemaker_resources_being_deleted_are_left_out(collect: Collect) -> None:
    backend = sagemaker_backends[ACCOUNT][REGION]
    kept_endpoint = make_sagemaker_endpoint(REGION, 0, {})
    gone_endpoint = make_sagemaker_endpoint(REGION, 1, {})
    backend.endpoints[gone_endpoint.name].endpoint_status = "Deleting"
    kept_notebook = make_notebook_instance(REGION, 0, {})
    gone_notebook = make_notebook_instance(REGION, 1, {})
    backend.notebook_instances[gone_notebook.name].status = "Deleting"
    kept_domain = make_sagemaker_domain(REGION, 0, {})
    gone_domain = make_sagemaker_domain(REGION, 1, {})
    (domain,) = (d for d in backend.domains.values() if d.arn == gone_domain.arn)
    domain.status = "Deleting"

    for resource_type, kept, gone in (
        ("sagemaker:endpoint", kept_endpoint, gone_endpoint),
        ("sagemaker:notebook-instance", kept_notebook, gone_notebook),
        ("sagemaker:domain", kept_domain, gone_domain),
    ):
        found = collect(resource_type, REGION, tagging={}).resources
        assert kept.arn in found, resource_type
        assert gone.arn not in found, resource_type


# --- against botocore's Stubber -----------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[dict[str, tuple[Any, Stubber]]]:
    """A stubbed client per service, made on first use; every stubbed answer must be used."""
    made: dict[str, tuple[Any, Stubber]] = {}
    yield made
    for _, stubber in made.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def stub(made: dict[str, tuple[Any, Stubber]], service: str) -> Stubber:
    if service not in made:
        client = boto3.client(
            service,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        stubber = Stubber(client)
        stubber.activate()
        made[service] = (client, stubber)
    return made[service][1]


def scope_of(made: dict[str, tuple[Any, Stubber]]) -> Scope:
    def clients(service: str, region: str) -> Any:
        assert region == REGION
        return made[service][0]

    return Scope(clients, ACCOUNT, REGION, REGION)


def bus(name: str) -> dict[str, Any]:
    return {"Name": name, "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"}


def rule(name: str, bus_name: str, **extra: Any) -> dict[str, Any]:
    where = "" if bus_name == "default" else f"{bus_name}/"
    return {
        "Name": name,
        "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{where}{name}",
        "State": "ENABLED",
        "EventBusName": bus_name,
        **extra,
    }


def test_every_page_of_event_buses_is_read_and_managed_rules_are_left_out(
    stubbed: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 1)
    events = stub(stubbed, "events")
    # Pages are asked for as they are needed: a bus's rules before the next page of buses.
    events.add_response(
        "list_event_buses", {"EventBuses": [bus("default")], "NextToken": "t1"}, {"Limit": 1}
    )
    events.add_response(
        "list_rules",
        {"Rules": [rule("mine", "default")], "NextToken": "r1"},
        {"EventBusName": "default", "Limit": 1},
    )
    events.add_response(
        "list_rules",
        # Created by another service for this account: EventBridge refuses to tag it.
        {"Rules": [rule("Managed-Rule", "default", ManagedBy="securityhub.amazonaws.com")]},
        {"EventBusName": "default", "Limit": 1, "NextToken": "r1"},
    )
    events.add_response(
        "list_event_buses", {"EventBuses": [bus("orders")]}, {"Limit": 1, "NextToken": "t1"}
    )
    events.add_response(
        "list_rules",
        {"Rules": [rule("orders-rule", "orders")]},
        {"EventBusName": "orders", "Limit": 1},
    )
    collector = COLLECTORS["events:rule"]
    found = {r.name: r for r in collector.discover(scope_of(stubbed))}
    assert set(found) == {"mine", "orders-rule"}
    assert found["orders-rule"].arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders/orders-rule"


def test_an_event_bus_token_that_repeats_itself_is_not_followed_forever(
    stubbed: dict[str, tuple[Any, Stubber]],
) -> None:
    events = stub(stubbed, "events")
    events.add_response(
        "list_event_buses", {"EventBuses": [bus("default")], "NextToken": "same"}, {"Limit": 100}
    )
    events.add_response(
        "list_event_buses",
        {"EventBuses": [bus("default"), bus("orders")], "NextToken": "same"},
        {"Limit": 100, "NextToken": "same"},
    )
    found = [r.name for r in COLLECTORS["events:event-bus"].discover(scope_of(stubbed))]
    assert found == ["default", "orders"]


def test_delivery_streams_are_read_from_each_start_name_and_a_repeat_stops(
    stubbed: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 2)
    firehose = stub(stubbed, "firehose")
    firehose.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["a", "b"], "HasMoreDeliveryStreams": True},
        {"Limit": 2},
    )
    firehose.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["c", "d"], "HasMoreDeliveryStreams": True},
        {"Limit": 2, "ExclusiveStartDeliveryStreamName": "b"},
    )
    # An endpoint that answers the same page again, still saying there is more.
    firehose.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["c", "d"], "HasMoreDeliveryStreams": True},
        {"Limit": 2, "ExclusiveStartDeliveryStreamName": "d"},
    )
    found = list(COLLECTORS["firehose:deliverystream"].discover(scope_of(stubbed)))
    # The repeated page brings no new name: the list ends there, each stream listed once.
    assert [r.arn for r in found] == [
        f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}" for name in "abcd"
    ]


def test_http_and_rest_apis_are_read_page_after_page_with_their_tags(
    stubbed: dict[str, tuple[Any, Stubber]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 1)
    v2 = stub(stubbed, "apigatewayv2")
    # GetApis takes its page size as a string.
    v2.add_response(
        "get_apis",
        {"Items": [http_api("a1", {"Team": "web"})], "NextToken": "n1"},
        {"MaxResults": "1"},
    )
    v2.add_response(
        "get_apis", {"Items": [http_api("a2", {})]}, {"MaxResults": "1", "NextToken": "n1"}
    )
    rest = stub(stubbed, "apigateway")
    rest.add_response(
        "get_rest_apis",
        {"items": [{"id": "r1", "name": "rest-1", "tags": {"Team": "api"}}], "position": "p1"},
        {"limit": 1},
    )
    rest.add_response(
        "get_rest_apis", {"items": [{"id": "r2", "name": "rest-2"}]}, {"limit": 1, "position": "p1"}
    )
    scope = scope_of(stubbed)
    http = {r.arn: r.tags for r in COLLECTORS["apigateway:apis"].collect(scope)}
    assert http == {
        f"arn:aws:apigateway:{REGION}::/apis/a1": {"Team": "web"},
        f"arn:aws:apigateway:{REGION}::/apis/a2": {},
    }
    rests = {r.arn: r.tags for r in COLLECTORS["apigateway:restapis"].collect(scope)}
    assert rests == {
        f"arn:aws:apigateway:{REGION}::/restapis/r1": {"Team": "api"},
        f"arn:aws:apigateway:{REGION}::/restapis/r2": {},
    }


def http_api(api_id: str, tags: dict[str, str]) -> dict[str, Any]:
    return {
        "ApiId": api_id,
        "Name": f"http-{api_id}",
        "ProtocolType": "HTTP",
        "RouteSelectionExpression": "$request.method $request.path",
        "CreatedDate": CREATED,
        **({"Tags": tags} if tags else {}),
    }


@pytest.mark.parametrize(
    ("resource_type", "arn", "name", "expected"),
    [
        (
            "apigateway:restapis",
            f"arn:aws:apigateway:{REGION}::/restapis/abc123",
            "orders",
            f"https://{REGION}.console.aws.amazon.com/apigateway/main/apis/abc123/resources"
            f"?api=abc123&region={REGION}",
        ),
        (
            "cognito-idp:userpool",
            f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_AbC123",
            "users",
            f"https://{REGION}.console.aws.amazon.com/cognito/v2/idp/user-pools/"
            f"{REGION}_AbC123/overview?region={REGION}",
        ),
        (
            "sagemaker:domain",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/d-abc123",
            "studio",
            f"https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}"
            "#/studio/d-abc123",
        ),
    ],
)
def test_console_links_name_the_resource(
    resource_type: str, arn: str, name: str, expected: str
) -> None:
    assert console_url(resource_type, arn, REGION, name) == expected
