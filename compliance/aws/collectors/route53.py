"""Route 53 hosted zones (public and private), with their tags from the Resource Groups Tagging
API.

Hosted zones are global: listed once per account, filed under the global region, their tags
asked of the tagging API in the partition's global region. ListHostedZones returns no tags;
the tagging API covers ``route53:hostedzone``, so no ListTagsForResources (10 zones a call) is
needed. Hosted zones have no deleting state: a deleted zone is gone at once.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import GLOBAL_REGION, DiscoveredResource
from compliance.aws.collectors.core import (
    TAGGING_API_ACTION,
    Collector,
    Scope,
    TagSource,
    attributes,
    items,
)


def zone_id(raw: str) -> str:
    """``Z123`` of ``/hostedzone/Z123``, the form ListHostedZones gives ids in."""
    return raw.rsplit("/", 1)[-1]


def _hosted_zones(scope: Scope) -> Iterator[DiscoveredResource]:
    route53 = scope.client("route53")
    # Route 53 pages by 100 at most, which is also its default.
    for zone in items(route53, "list_hosted_zones", "HostedZones"):
        config = zone.get("Config", {})
        linked = zone.get("LinkedService", {})
        yield scope.resource(
            "route53:hostedzone",
            # Hosted zone ARNs name neither region nor account.
            f"arn:{scope.partition}:route53:::hostedzone/{zone_id(zone['Id'])}",
            zone["Name"],
            {},
            attributes(
                private_zone=str(bool(config.get("PrivateZone"))).lower(),
                record_count=zone.get("ResourceRecordSetCount"),
                linked_service=linked.get("ServicePrincipal"),
            ),
            region=GLOBAL_REGION,
        )


COLLECTORS = (
    Collector(
        "route53:hostedzone",
        "route53",
        ("route53:ListHostedZones", TAGGING_API_ACTION),
        _hosted_zones,
        is_global=True,
        tags=TagSource.TAGGING_API,
        label="Route 53 hosted zone",
        list_call="route53:ListHostedZones",
        console=(
            "https://{region}.console.aws.amazon.com/route53/v2/hostedzones?region={region}"
            "#ListRecordSets/{id}"
        ),
        custodian="aws.hostedzone",
    ),
)
