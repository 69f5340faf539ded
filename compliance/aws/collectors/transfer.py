"""Transfer Family servers (SFTP, FTPS, FTP and AS2 endpoints).

ListServers pages through every server of the region with its ARN and state, but without
tags; tags come from the Resource Groups Tagging API (DescribeServer would cost a call per
server). A server has no name of its own: it is named by its id (``s-...``). Server states
(online, offline, starting, stopping and their failures) include no deleting state: a deleted
server is no longer listed, and a stopped one is kept, since it is still billed. Users,
connectors and workflows are not listed here.
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


def _servers(scope: Scope) -> Iterator[DiscoveredResource]:
    transfer = scope.client("transfer")
    for server in items(transfer, "list_servers", "Servers"):
        yield scope.resource(
            "transfer:server",
            server["Arn"],
            server["ServerId"],
            {},
            attributes(
                state=server.get("State"),
                endpoint_type=server.get("EndpointType"),
                domain=server.get("Domain"),
                identity_provider_type=server.get("IdentityProviderType"),
            ),
        )


COLLECTORS = (
    Collector(
        "transfer:server",
        "transfer",
        ("transfer:ListServers", TAGGING_API_ACTION),
        _servers,
        tags=TagSource.TAGGING_API,
        label="Transfer Family server",
        list_call="transfer:ListServers",
        console="https://{region}.console.aws.amazon.com/transfer/home?region={region}#/servers/{id}",
        custodian="aws.transfer-server",
    ),
)
