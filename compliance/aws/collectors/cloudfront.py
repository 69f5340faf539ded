"""CloudFront distributions, with their tags from the Resource Groups Tagging API.

Distributions are global: listed once per account, filed under the global region, their tags
asked of the tagging API in the partition's global region. ListDistributions returns no tags;
it lists web distributions, disabled and staging ones included (each is billed and can be
tagged). Distributions have no deleting state (only ``InProgress`` and ``Deployed``): a deleted
distribution is gone at once.
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
    pages,
)


def _distributions(scope: Scope) -> Iterator[DiscoveredResource]:
    cloudfront = scope.client("cloudfront")
    # CloudFront pages by 100 at most, which is also its default. The items sit one level down
    # (``DistributionList.Items``), so pages are read here rather than through ``items()``.
    for page in pages(cloudfront, "list_distributions"):
        for distribution in page.get("DistributionList", {}).get("Items", []):
            aliases = distribution.get("Aliases", {}).get("Items", [])
            yield scope.resource(
                "cloudfront:distribution",
                distribution["ARN"],
                distribution["Id"],
                {},
                attributes(
                    state=distribution.get("Status"),
                    enabled=str(bool(distribution.get("Enabled"))).lower(),
                    domain_name=distribution.get("DomainName"),
                    aliases=",".join(aliases),
                    price_class=distribution.get("PriceClass"),
                    comment=distribution.get("Comment"),
                ),
                region=GLOBAL_REGION,
            )


COLLECTORS = (
    Collector(
        "cloudfront:distribution",
        "cloudfront",
        ("cloudfront:ListDistributions", TAGGING_API_ACTION),
        _distributions,
        is_global=True,
        tags=TagSource.TAGGING_API,
        label="CloudFront distribution",
        list_call="cloudfront:ListDistributions",
        console=(
            "https://{region}.console.aws.amazon.com/cloudfront/v4/home?region={region}"
            "#/distributions/{id}"
        ),
        custodian="aws.distribution",
    ),
)
