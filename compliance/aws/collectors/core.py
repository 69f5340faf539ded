"""What a collector is, and the rules every collector follows.

A collector lists one resource type in one account and region, and turns each resource into a
:class:`DiscoveredResource`. Discovery always goes through the service's own list/describe calls:
the Resource Groups Tagging API is not an inventory, because GetResources never returns
resources that were never tagged, which are exactly the ones a tag-compliance scan must find.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from compliance.aws.base import GLOBAL_REGION, DiscoveredResource

#: Forces the page size of every list/describe call. ``None`` (production) leaves each service
#: its default or the maximum we ask for, i.e. the fewest calls; tests set it small to prove
#: that every page is read.
PAGE_SIZE: int | None = None

#: (service, region) -> botocore client. Supplied by the inventory runner, which owns threads.
Clients = Callable[[str, str], Any]

#: Error codes meaning "this resource went away between the list call and the next call".
VANISHED_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "CacheClusterNotFound",
        "ClusterNotFoundException",
        "NoSuchBucket",
        "NotFound",
        "QueueDoesNotExist",
        "RepositoryNotFoundException",
        "ResourceNotFoundException",
    }
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Where one collector run looks, and how it reaches AWS.

    ``region`` is the region scanned, or ``GLOBAL_REGION`` for a global collector, which then
    calls AWS in ``home_region`` and keeps only resources located in ``only_regions`` (when set).
    """

    clients: Clients
    account_id: str
    region: str
    home_region: str
    only_regions: frozenset[str] | None = None

    @property
    def api_region(self) -> str:
        return self.home_region if self.region == GLOBAL_REGION else self.region

    @property
    def partition(self) -> str:
        return partition_for(self.api_region)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.clients(service, region or self.api_region)

    def arn(self, service: str, resource: str, *, region: str | None = None) -> str:
        """An ARN in this account, in the scanned region unless told otherwise."""
        region = self.region if region is None else region
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def resource(
        self,
        resource_type: str,
        arn: str,
        name: str,
        tags: dict[str, str],
        attributes: dict[str, str] | None = None,
        *,
        region: str | None = None,
    ) -> DiscoveredResource:
        return DiscoveredResource(
            arn=arn,
            resource_type=resource_type,
            account_id=self.account_id,
            region=region or self.region,
            name=name,
            tags=tags,
            attributes=attributes or {},
        )


@dataclass(frozen=True, slots=True)
class Collector:
    """One resource type: how to list it, and exactly which IAM actions that takes.

    ``iam_actions`` feeds the least-privilege read-only policy, so it names every call the
    collector makes, tag reads included, and nothing else.
    """

    resource_type: str
    service: str
    iam_actions: tuple[str, ...]
    collect: Callable[[Scope], Iterator[DiscoveredResource]]
    is_global: bool = False


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def page_size(default: int | None = None) -> int | None:
    """The page size to ask for: the forced one, else ``default`` (``None``: the service's)."""
    return PAGE_SIZE or default


def pages(
    client: Any,
    operation: str,
    *,
    sized: bool = True,
    default_page_size: int | None = None,
    **params: Any,
) -> Iterator[dict[str, Any]]:
    """Every page of a paginated list/describe call, through botocore's paginator.

    ``sized=False`` for the few calls whose page size only AWS decides (botocore refuses a
    PageSize there); ``default_page_size`` for the few that only paginate when given one.
    """
    size = page_size(default_page_size) if sized else None
    config = {"PageSize": size} if size else {}
    yield from client.get_paginator(operation).paginate(PaginationConfig=config, **params)


def items(
    client: Any,
    operation: str,
    result_key: str,
    *,
    sized: bool = True,
    default_page_size: int | None = None,
    **params: Any,
) -> Iterator[Any]:
    """The ``result_key`` entries of every page of a paginated call."""
    for page in pages(
        client, operation, sized=sized, default_page_size=default_page_size, **params
    ):
        yield from page.get(result_key, [])


def tag_dict(
    tags: Iterable[Mapping[str, str]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    """``[{"Key": k, "Value": v}, ...]`` as ``{k: v}`` (ECS spells them ``key``/``value``)."""
    return {tag[key]: tag.get(value, "") for tag in tags or ()}


def attributes(**values: object) -> dict[str, str]:
    """The attributes that are known, as strings (absent and empty values left out)."""
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``: the most a batch describe call accepts."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def unless_vanished(call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``call(*args, **kwargs)``, or ``None`` if its resource was deleted after it was listed.

    Inventory races deletions: a function listed a moment ago may be gone when its tags are
    read. That resource is simply no longer inventory; failing the whole job would be wrong.
    """
    try:
        return call(*args, **kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in VANISHED_CODES:
            return None
        raise
