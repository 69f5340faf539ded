"""Amazon MQ brokers.

ListBrokers returns each broker's ARN but no tags (only DescribeBroker, one call per broker,
has them), so tags come from the Resource Groups Tagging API by ARN, 100 brokers a call.
Brokers being deleted are left out.
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

_GONE_STATES = frozenset({"DELETION_IN_PROGRESS"})


def _brokers(scope: Scope) -> Iterator[DiscoveredResource]:
    mq = scope.client("mq")
    for broker in items(mq, "list_brokers", "BrokerSummaries"):
        if broker.get("BrokerState") in _GONE_STATES:
            continue
        yield scope.resource(
            "mq:broker",
            broker["BrokerArn"],
            broker.get("BrokerName") or broker["BrokerId"],
            {},
            attributes(
                state=broker.get("BrokerState"),
                engine=broker.get("EngineType"),
                instance_type=broker.get("HostInstanceType"),
                deployment_mode=broker.get("DeploymentMode"),
            ),
        )


COLLECTORS = (
    Collector(
        "mq:broker",
        "mq",
        ("mq:ListBrokers", TAGGING_API_ACTION),
        _brokers,
        tags=TagSource.TAGGING_API,
        label="Amazon MQ broker",
        list_call="mq:ListBrokers",
        console=(
            "https://{region}.console.aws.amazon.com/amazon-mq/home?region={region}"
            "#/brokers/details?id={id}"
        ),
        custodian="aws.message-broker",
    ),
)
