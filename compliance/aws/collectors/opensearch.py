"""OpenSearch Service (formerly Elasticsearch Service) domains; IAM still calls them ``es:``.

ListDomainNames lists every domain, never-tagged ones included, but only by name; DescribeDomains,
five domains a call, says which are being deleted and gives each one's ARN, engine version and
instance type. Tags come from the Resource Groups Tagging API, 100 domains a call (no ListTags
per domain). Domains being deleted (``Deleted``) are left out.
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
    chunks,
)

#: The most domain names DescribeDomains accepts in one call.
DOMAINS_PER_CALL = 5


def _domains(scope: Scope) -> Iterator[DiscoveredResource]:
    opensearch = scope.client("opensearch")
    # ListDomainNames has no pagination: one call returns every domain in the region.
    names = [d["DomainName"] for d in opensearch.list_domain_names().get("DomainNames", [])]
    # DescribeDomains stays (a batch of five, not a call per domain): only it says whether a
    # domain is being deleted, which ListDomainNames does not.
    for batch in chunks(names, DOMAINS_PER_CALL):
        for domain in opensearch.describe_domains(DomainNames=list(batch))["DomainStatusList"]:
            # A domain being deleted is still described, with Deleted=True.
            if domain.get("Deleted"):
                continue
            yield scope.resource(
                "es:domain",
                domain["ARN"],
                domain["DomainName"],
                {},
                attributes(
                    engine_version=domain.get("EngineVersion"),
                    instance_type=(domain.get("ClusterConfig") or {}).get("InstanceType"),
                    vpc_id=(domain.get("VPCOptions") or {}).get("VPCId"),
                ),
            )


COLLECTORS = (
    Collector(
        "es:domain",
        "opensearch",
        ("es:DescribeDomains", "es:ListDomainNames", TAGGING_API_ACTION),
        _domains,
        tags=TagSource.TAGGING_API,
        label="OpenSearch domain",
        list_call="es:ListDomainNames",
        console=(
            "https://{region}.console.aws.amazon.com/aos/home?region={region}"
            "#opensearch/domains/{name}"
        ),
        custodian="aws.elasticsearch",
    ),
)
