"""EventBridge event buses and rules.

ListEventBuses lists every event bus of the region (the default bus, custom and partner buses),
never-tagged ones included, with its ARN; ListRules, asked once per bus (it lists one bus's
rules at a time), lists the rules of every bus, default and custom, each with its ARN and
state. Neither returns tags: they come from the Resource Groups Tagging API, 100 resources a
call (no ListTagsForResource per bus or rule). Rules created and managed by another AWS
service (``ManagedBy`` set) are left out: EventBridge refuses TagResource on them, so their
owner cannot make them compliant. Buses and rules have no deleting state: a deleted one leaves
the list.
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
    items,
    page_size,
)

#: ListEventBuses and ListRules return at most 100 a page.
LIST_PAGE_SIZE = 100


def _event_buses(events: Any) -> Iterator[dict[str, Any]]:
    """Every event bus of the region. ListEventBuses pages by NextToken but botocore has no
    paginator for it, so its pages are followed by hand."""
    params: dict[str, Any] = {}
    if limit := page_size(LIST_PAGE_SIZE):
        params["Limit"] = limit
    buses_seen: set[str] = set()
    tokens_seen: set[str] = set()
    while True:
        page = events.list_event_buses(**params)
        buses = [bus for bus in page.get("EventBuses", []) if bus["Arn"] not in buses_seen]
        buses_seen.update(bus["Arn"] for bus in buses)
        yield from buses
        token = page.get("NextToken")
        # Guard against an endpoint that repeats itself: a token already followed ends the
        # list (instead of asking for the same pages forever), and no bus is listed twice.
        if not token or token in tokens_seen:
            return
        tokens_seen.add(token)
        params["NextToken"] = token


def _buses(scope: Scope) -> Iterator[DiscoveredResource]:
    events = scope.client("events")
    for bus in _event_buses(events):
        yield scope.resource(
            "events:event-bus",
            bus["Arn"],
            bus["Name"],
            {},
            attributes(managed_by=bus.get("ManagedBy")),
        )


def _rules(scope: Scope) -> Iterator[DiscoveredResource]:
    events = scope.client("events")
    for bus in _event_buses(events):
        # One ListRules per bus is unavoidable: without EventBusName it lists the default
        # bus's rules only, and no call lists the rules of several buses.
        for rule in items(
            events,
            "list_rules",
            "Rules",
            default_page_size=LIST_PAGE_SIZE,
            EventBusName=bus["Name"],
        ):
            if rule.get("ManagedBy"):
                continue
            yield scope.resource(
                "events:rule",
                rule["Arn"],
                rule["Name"],
                {},
                attributes(
                    state=rule.get("State"),
                    event_bus=rule.get("EventBusName") or bus["Name"],
                    parent_arn=bus["Arn"],
                ),
            )


_CONSOLE = "https://{region}.console.aws.amazon.com/events/home?region={region}"

COLLECTORS = (
    Collector(
        "events:event-bus",
        "events",
        ("events:ListEventBuses", TAGGING_API_ACTION),
        _buses,
        tags=TagSource.TAGGING_API,
        label="EventBridge event bus",
        list_call="events:ListEventBuses",
        console=_CONSOLE + "#/eventbus/{name}",
        custodian="aws.event-bus",
    ),
    Collector(
        "events:rule",
        "events",
        ("events:ListEventBuses", "events:ListRules", TAGGING_API_ACTION),
        _rules,
        tags=TagSource.TAGGING_API,
        label="EventBridge rule",
        list_call="events:ListRules",
        # The console names a rule's page by its bus and its name; a pattern has no
        # placeholder for the bus, so this is right for the default bus's rules only.
        console=_CONSOLE + "#/eventbus/default/rules/{name}",
        custodian="aws.event-rule",
    ),
)
