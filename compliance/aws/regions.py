"""The AWS region names that exist, and which services each offers, as the installed botocore
knows them (every partition).

Used to refuse a typo (``us-east-9``) before a scan starts or an account is saved, and to skip a
service in a region where AWS does not offer it (MemoryDB in af-south-1), which would otherwise
fail after every retry on an endpoint that does not exist. A region or service AWS opened after
the installed botocore was released is refused or skipped too, until botocore is upgraded.
"""

from __future__ import annotations

from functools import cache

import boto3
import botocore.session

from compliance.aws.collectors.core import partition_for


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore's endpoint data lists."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    found: set[str] = set()
    for partition in loader.load_data("endpoints")["partitions"]:
        found.update(partition.get("regions", {}))
    return frozenset(found)


@cache
def _offered_regions(service: str, partition: str) -> frozenset[str]:
    return frozenset(boto3.session.Session().get_available_regions(service, partition))


def offered_in(service: str, region: str) -> bool:
    """Whether AWS offers ``service`` (a boto3 client name) in ``region``, as the installed
    botocore's endpoint data says. A service it lists no regions for is taken as offered
    everywhere (its endpoints follow the partition's rules), so nothing is skipped on a guess."""
    regions = _offered_regions(service, partition_for(region))
    return not regions or region in regions
