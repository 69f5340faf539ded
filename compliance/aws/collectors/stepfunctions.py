"""Step Functions state machines.

ListStateMachines lists every state machine, never-tagged ones included, with its ARN, name and
type (STANDARD or EXPRESS); tags come from the Resource Groups Tagging API, 100 state machines a
call (no ListTagsForResource per state machine). The list carries no status, and telling a
state machine being deleted from an active one would take a DescribeStateMachine per state
machine: one being deleted stays listed until it is gone. Versions and aliases are not listed
(they share their state machine's tags and cost).
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

#: ListStateMachines returns at most 1,000 a page (100 unless asked).
LIST_PAGE_SIZE = 1000


def _state_machines(scope: Scope) -> Iterator[DiscoveredResource]:
    states = scope.client("stepfunctions")
    for machine in items(
        states, "list_state_machines", "stateMachines", default_page_size=LIST_PAGE_SIZE
    ):
        yield scope.resource(
            "states:stateMachine",
            machine["stateMachineArn"],
            machine["name"],
            {},
            attributes(type=machine.get("type")),
        )


COLLECTORS = (
    Collector(
        "states:stateMachine",
        "stepfunctions",
        ("states:ListStateMachines", TAGGING_API_ACTION),
        _state_machines,
        tags=TagSource.TAGGING_API,
        label="Step Functions state machine",
        list_call="states:ListStateMachines",
        console=(
            "https://{region}.console.aws.amazon.com/states/home?region={region}"
            "#/statemachines/view/{arn}"
        ),
        custodian="aws.step-machine",
    ),
)
