"""KMS keys: customer-managed keys only, with their tags from the Resource Groups Tagging API.

ListKeys names every key of the region, AWS-managed ones included, and says nothing else about
them. One ListAliases (paginated) first finds the AWS-managed keys by their reserved
``alias/aws/...`` aliases, so they are left out without a call each. Each remaining key then
costs one DescribeKey: it is the only call that gives a key's state (keys pending deletion, or
pending replica deletion, are left out) and who manages it, and KMS has no batch describe.
Tags come from the tagging API, 100 keys a call, rather than one ListResourceTags per key.
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
    unless_vanished,
)

#: ListKeys pages by 1,000 at most, ListAliases by 100 (both by 100 when not asked).
KEYS_PAGE_SIZE = 1000
ALIASES_PAGE_SIZE = 100
#: Keys in these states are being deleted: they can no longer be used and will not come back.
_GONE_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})
#: Aliases under this prefix are reserved to AWS: they name AWS-managed keys.
_AWS_ALIAS_PREFIX = "alias/aws/"


def _aliases(kms: Any) -> tuple[set[str], dict[str, list[str]]]:
    """The ids of AWS-managed keys, and each other key's aliases (without ``alias/``)."""
    aws_managed: set[str] = set()
    named: dict[str, list[str]] = {}
    for alias in items(kms, "list_aliases", "Aliases", default_page_size=ALIASES_PAGE_SIZE):
        key_id = alias.get("TargetKeyId")
        if not key_id:
            continue
        name = str(alias["AliasName"])
        if name.startswith(_AWS_ALIAS_PREFIX):
            aws_managed.add(key_id)
        else:
            named.setdefault(key_id, []).append(name.removeprefix("alias/"))
    return aws_managed, named


def _keys(scope: Scope) -> Iterator[DiscoveredResource]:
    kms = scope.client("kms")
    aws_managed, named = _aliases(kms)
    for key in items(kms, "list_keys", "Keys", default_page_size=KEYS_PAGE_SIZE):
        key_id = key["KeyId"]
        if key_id in aws_managed:
            continue
        # One call per customer-managed key: see the module docstring.
        # A key deleted since it was listed answers NotFoundException: it is gone.
        described = unless_vanished(kms.describe_key, KeyId=key_id)
        metadata = None if described is None else described["KeyMetadata"]
        if (
            metadata is None
            or metadata.get("KeyManager") != "CUSTOMER"
            or metadata.get("KeyState") in _GONE_STATES
        ):
            continue
        yield scope.resource(
            "kms:key",
            key.get("KeyArn") or metadata["Arn"],
            key_id,
            {},
            attributes(
                state=metadata.get("KeyState"),
                aliases=",".join(sorted(named.get(key_id, []))),
                key_spec=metadata.get("KeySpec"),
                key_usage=metadata.get("KeyUsage"),
                origin=metadata.get("Origin"),
                multi_region=str(bool(metadata.get("MultiRegion"))).lower(),
            ),
        )


COLLECTORS = (
    Collector(
        "kms:key",
        "kms",
        ("kms:DescribeKey", "kms:ListAliases", "kms:ListKeys", TAGGING_API_ACTION),
        _keys,
        tags=TagSource.TAGGING_API,
        label="KMS key",
        list_call="kms:ListKeys",
        console="https://{region}.console.aws.amazon.com/kms/home?region={region}#/kms/keys/{id}",
        custodian="aws.kms-key",
    ),
)
