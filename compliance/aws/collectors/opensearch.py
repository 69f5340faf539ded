"""OpenSearch Service (formerly Elasticsearch Service) domains; IAM still calls them ``es:``.

ListDomainNames has no pagination at all (one call lists every domain); DescribeDomains takes
at most five names per call and returns no tags, so each domain also costs one ListTags call.
"""

from __future__ import annotations

from collections.abc import Iterator

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors.core import (
    Collector,
    Scope,
    attributes,
    chunks,
    tag_dict,
    unless_vanished,
)

#: The most domain names DescribeDomains accepts in one call.
DOMAINS_PER_CALL = 5


def _domains(scope: Scope) -> Iterator[DiscoveredResource]:
    opensearch = scope.client("opensearch")
    names = [d["DomainName"] for d in opensearch.list_domain_names().get("DomainNames", [])]
    for batch in chunks(names, DOMAINS_PER_CALL):
        for domain in opensearch.describe_domains(DomainNames=list(batch))["DomainStatusList"]:
            # A domain being deleted is still described, with Deleted=True.
            if domain.get("Deleted"):
                continue
            listed = unless_vanished(opensearch.list_tags, ARN=domain["ARN"])
            if listed is None:
                continue
            yield scope.resource(
                "es:domain",
                domain["ARN"],
                domain["DomainName"],
                tag_dict(listed.get("TagList")),
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
        ("es:DescribeDomains", "es:ListDomainNames", "es:ListTags"),
        _domains,
    ),
)
