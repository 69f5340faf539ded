"""What a collector is, and the rules every collector follows.

A collector lists one resource type in one account and region, and turns each resource into a
:class:`DiscoveredResource`. Discovery always goes through the service's own list/describe calls:
the Resource Groups Tagging API is not an inventory, because GetResources never returns
resources that were never tagged, which are exactly the ones a tag-compliance scan must find.

Tags come from one of three places (:class:`TagSource`): the list call itself (EC2, RDS...),
the Resource Groups Tagging API, asked for up to 100 discovered resources at a time by ARN
(most services), or one call of the service's own per resource, only for the types the tagging
API does not cover (IAM). A resource the tagging API does not return has no tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
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
        "NoSuchEntity",
        "NotFound",
        "NotFoundException",
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


class TagSource(StrEnum):
    """Where a collector's tags come from."""

    #: The list/describe call returns each resource's tags: no further call.
    LISTED = "listed"
    #: The Resource Groups Tagging API's GetResources, 100 discovered ARNs a call.
    TAGGING_API = "tagging-api"
    #: A call of the service's own per resource (or per small batch): types the tagging API
    #: does not cover.
    OWN_CALL = "own-call"


#: The IAM action of the bulk tag read.
TAGGING_API_ACTION = "tag:GetResources"
#: The most ARNs GetResources accepts in one ResourceARNList.
TAGGING_API_BATCH = 100

#: Where each partition answers for its global resources (CloudFront...).
_GLOBAL_API_REGIONS = {
    "aws": "us-east-1",
    "aws-cn": "cn-northwest-1",
    "aws-us-gov": "us-gov-west-1",
}


@dataclass(frozen=True, slots=True)
class Collector:
    """One resource type: one row of the type table.

    How to list it (``discover``, starting with the ``list_call``), where its tags come from,
    exactly which IAM actions that takes, how people and other tools name it (``label``, the
    Cloud Custodian resource ``custodian``), and where the AWS console shows one (``console``, a
    pattern of :mod:`compliance.aws.console`).

    ``iam_actions`` feeds the least-privilege read-only policy, so it names every call the
    collector makes, tag reads included (``tag:GetResources`` for ``TagSource.TAGGING_API``),
    and nothing else.
    """

    resource_type: str
    service: str
    iam_actions: tuple[str, ...]
    discover: Callable[[Scope], Iterator[DiscoveredResource]]
    is_global: bool = False
    tags: TagSource = TagSource.LISTED
    label: str = ""
    list_call: str = ""
    console: str = ""
    custodian: str = ""
    #: The resources the row's own actions are granted on in the IAM policy, where an action
    #: reads more than the list needs (``apigateway:GET`` reads API keys too); empty: every one.
    iam_resources: tuple[str, ...] = ()

    def collect(self, scope: Scope) -> Iterator[DiscoveredResource]:
        """Every resource of this type in ``scope``, with its tags."""
        found = self.discover(scope)
        if self.tags is TagSource.TAGGING_API:
            return with_tagging_api_tags(scope, found)
        return found


def tagging_region(scope: Scope, resource: DiscoveredResource) -> str:
    """The region whose tagging API knows ``resource``: its own, or for a global resource the
    partition's global region."""
    if resource.region == GLOBAL_REGION:
        return _GLOBAL_API_REGIONS.get(scope.partition, scope.api_region)
    return resource.region


def with_tagging_api_tags(
    scope: Scope, resources: Iterable[DiscoveredResource]
) -> Iterator[DiscoveredResource]:
    """``resources`` with their tags from the Resource Groups Tagging API.

    Discovered resources are held until 100 of one region are waiting, then one GetResources
    call names them by ARN; a resource it does not return has no tags. Memory stays bounded by
    one batch per region whatever the number of resources.
    """
    waiting: dict[str, list[DiscoveredResource]] = {}
    for resource in resources:
        region = tagging_region(scope, resource)
        batch = waiting.setdefault(region, [])
        batch.append(resource)
        if len(batch) >= TAGGING_API_BATCH:
            yield from _tagged(scope, region, batch)
            waiting[region] = []
    for region, batch in waiting.items():
        if batch:
            yield from _tagged(scope, region, batch)


def _tagged(
    scope: Scope, region: str, batch: list[DiscoveredResource]
) -> Iterator[DiscoveredResource]:
    tagging = scope.client("resourcegroupstaggingapi", region)
    asked = {resource.arn for resource in batch}
    found: dict[str, dict[str, str]] = {}
    for mapping in _tag_mappings(tagging, sorted(asked)):
        arn = mapping.get("ResourceARN", "")
        # Only what was asked for: an answer naming another resource changes nothing.
        if arn in asked:
            found[arn] = tag_dict(mapping.get("Tags"))
    for resource in batch:
        yield replace(resource, tags=found.get(resource.arn, {}))


def _tag_mappings(tagging: Any, arns: list[str]) -> Iterator[dict[str, Any]]:
    """Every ResourceTagMapping GetResources gives for ``arns``.

    An ARN list takes no paging parameters, and AWS answers it at once; an endpoint that pages
    the answer anyway (moto: 50 resources or 100 tags a page) is followed by its token alone,
    at most once per ARN asked for, and never twice with the same token.
    """
    answer = tagging.get_resources(ResourceARNList=arns)
    followed: set[str] = set()
    while True:
        yield from answer.get("ResourceTagMappingList", [])
        token = answer.get("PaginationToken")
        if not token or token in followed or len(followed) >= len(arns):
            return
        followed.add(token)
        answer = tagging.get_resources(PaginationToken=token)


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
