"""The AWS region names that exist, as the installed botocore knows them (every partition).

Used to refuse a typo (``us-east-9``) before a scan starts or an account is saved. A region AWS
opened after the installed botocore was released is refused too, until botocore is upgraded.
"""

from __future__ import annotations

from functools import cache

import botocore.session


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore's endpoint data lists."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    found: set[str] = set()
    for partition in loader.load_data("endpoints")["partitions"]:
        found.update(partition.get("regions", {}))
    return frozenset(found)
