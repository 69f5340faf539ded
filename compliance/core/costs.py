"""Cost attribution: which money the tags let a FinOps team attribute, and which they do not.

Pure functions over plain values (no ORM, no boto3), so every figure can be checked by hand.
Every charge of a billing period lands in exactly one of four buckets, so that

    total_spend = attributable_spend + attribution_gap + unattributable_spend
                  + unmatched_resource_spend

holds exactly (Decimal arithmetic, never float):

- ``attributable_spend``: charges on inventory resources with no violation;
- ``attribution_gap``: charges on inventory resources with at least one violation;
- ``unattributable_spend``: charges that name no resource (tax, support, fees, most credits),
  which no tag could ever attribute, so they are kept apart rather than spread over resources;
- ``unmatched_resource_spend``: charges on a resource the inventory does not hold (not scanned,
  of a type we do not collect, or deleted before the last scan).

Amounts stay exact; :func:`to_cents` rounds (half to even) only for presentation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

ZERO = Decimal(0)
CENT = Decimal("0.01")

#: ``by_resource_type`` keys for charges that have no inventory resource.
NO_RESOURCE = "(no resource)"
NOT_IN_INVENTORY = "(not in inventory)"


def to_cents(amount: Decimal) -> Decimal:
    """Round to the cent for display; banker's rounding, so rounding errors do not drift."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Charge:
    """Cost of one resource id (or of no resource) in one billing period, as the bill says."""

    account_id: str
    region: str
    service: str
    resource_id: str
    charge_category: str
    cost: Decimal


@dataclass(frozen=True, slots=True)
class InventoryResource:
    arn: str
    account_id: str
    region: str
    resource_type: str
    #: Required tag keys this resource violates (empty: it has no violation).
    violating_tags: frozenset[str] = frozenset()


def id_keys(arn: str) -> set[str]:
    """The ways a bill may name the resource of ``arn`` instead of by its ARN.

    CUR and FOCUS carry the ARN for most services but a bare id for others: ``i-0abc`` for an
    instance, ``vol-0abc`` for a volume, the bucket name for S3, ``db:name`` style ids for RDS.
    So every suffix of the resource part is a key: after the fifth colon, and after its last
    ``/`` and last ``:``.
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[5]:
        return set()
    resource = parts[5]
    return {resource, resource.rsplit("/", 1)[-1], resource.rsplit(":", 1)[-1]} - {""}


class ResourceIndex:
    """Finds the inventory resource a bill's resource id refers to: by ARN, else by id.

    Ids are looked up within the charge's account; if two resources of an account share an id
    (a queue and a table both called ``orders``) the charge's region decides, and if that still
    leaves more than one, the charge stays unmatched rather than go to the wrong resource.
    """

    def __init__(self, resources: Iterable[InventoryResource]) -> None:
        self.by_arn: dict[str, InventoryResource] = {}
        self._by_id: dict[tuple[str, str], list[InventoryResource]] = defaultdict(list)
        for resource in resources:
            self.by_arn[resource.arn] = resource
            for key in id_keys(resource.arn):
                self._by_id[(resource.account_id, key)].append(resource)

    def match(self, account_id: str, region: str, resource_id: str) -> InventoryResource | None:
        found = self.by_arn.get(resource_id)
        if found is not None:
            return found
        candidates = self._by_id.get((account_id, resource_id), [])
        if len(candidates) > 1:
            candidates = [c for c in candidates if c.region == region]
        return candidates[0] if len(candidates) == 1 else None


@dataclass(slots=True)
class CostSplit:
    """One slice of spend, split into the four buckets that always add up to its total."""

    attributable: Decimal = ZERO
    attribution_gap: Decimal = ZERO
    unattributable: Decimal = ZERO
    unmatched_resource: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return (
            self.attributable
            + self.attribution_gap
            + self.unattributable
            + (self.unmatched_resource)
        )

    def add(self, bucket: str, amount: Decimal) -> None:
        setattr(self, bucket, getattr(self, bucket) + amount)


@dataclass(slots=True)
class Attribution:
    totals: CostSplit = field(default_factory=CostSplit)
    #: Required tag key -> spend of the resources that violate it (a resource counts once per
    #: key it violates, so these overlap and do not add up to the gap).
    untagged_spend: dict[str, Decimal] = field(default_factory=dict)
    #: ARN -> that resource's cost in the period, for every inventory resource with a charge.
    resource_costs: dict[str, Decimal] = field(default_factory=dict)
    #: Bill resource id -> cost, for charges on resources the inventory does not hold.
    unmatched_resources: dict[str, Decimal] = field(default_factory=dict)
    by_account: dict[str, CostSplit] = field(default_factory=dict)
    by_region: dict[str, CostSplit] = field(default_factory=dict)
    by_service: dict[str, CostSplit] = field(default_factory=dict)
    by_resource_type: dict[str, CostSplit] = field(default_factory=dict)
    by_charge_category: dict[str, CostSplit] = field(default_factory=dict)

    @property
    def total_spend(self) -> Decimal:
        return self.totals.total

    @property
    def attributable_spend(self) -> Decimal:
        return self.totals.attributable

    @property
    def attribution_gap(self) -> Decimal:
        return self.totals.attribution_gap

    @property
    def unattributable_spend(self) -> Decimal:
        return self.totals.unattributable

    @property
    def unmatched_resource_spend(self) -> Decimal:
        return self.totals.unmatched_resource


def attribute(
    charges: Iterable[Charge],
    resources: Iterable[InventoryResource],
    *,
    required_tags: Collection[str] = (),
    only_types: Collection[str] = (),
) -> Attribution:
    """Split every charge of one period into the four buckets, with its breakdowns.

    ``only_types`` narrows to charges on inventory resources of those types (a resource-type
    filter cannot say anything about charges that have no resource type).
    """
    index = ResourceIndex(resources)
    result = Attribution(untagged_spend=dict.fromkeys(sorted(required_tags), ZERO))
    splits = (
        result.by_account,
        result.by_region,
        result.by_service,
        result.by_resource_type,
        result.by_charge_category,
    )
    with localcontext() as context:
        context.prec = 60  # sums of 10-decimal amounts stay exact far beyond any bill
        for charge in charges:
            resource = (
                index.match(charge.account_id, charge.region, charge.resource_id)
                if charge.resource_id
                else None
            )
            if only_types and (resource is None or resource.resource_type not in only_types):
                continue
            if not charge.resource_id:
                bucket, resource_type = "unattributable", NO_RESOURCE
            elif resource is None:
                bucket, resource_type = "unmatched_resource", NOT_IN_INVENTORY
                result.unmatched_resources[charge.resource_id] = (
                    result.unmatched_resources.get(charge.resource_id, ZERO) + charge.cost
                )
            else:
                bucket = "attribution_gap" if resource.violating_tags else "attributable"
                resource_type = resource.resource_type
                result.resource_costs[resource.arn] = (
                    result.resource_costs.get(resource.arn, ZERO) + charge.cost
                )
            result.totals.add(bucket, charge.cost)
            keys = (
                charge.account_id,
                charge.region,
                charge.service,
                resource_type,
                charge.charge_category,
            )
            for split, key in zip(splits, keys, strict=True):
                split.setdefault(key, CostSplit()).add(bucket, charge.cost)
        for arn, cost in result.resource_costs.items():
            for tag in index.by_arn[arn].violating_tags:
                result.untagged_spend[tag] = result.untagged_spend.get(tag, ZERO) + cost
    return result


# --- Estimates from Cost Explorer ------------------------------------------------------------

#: Cost Explorer service names -> the resource types that service's cost is spent on.
CE_SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "Amazon Elastic Compute Cloud - Compute": ("ec2:instance",),
    "EC2 - Other": ("ec2:volume", "ec2:snapshot", "ec2:natgateway"),
    "Amazon Virtual Private Cloud": ("ec2:elastic-ip", "ec2:natgateway"),
    "Amazon Simple Storage Service": ("s3:bucket",),
    "Amazon Relational Database Service": ("rds:db", "rds:cluster"),
    "AWS Lambda": ("lambda:function",),
    "Amazon DynamoDB": ("dynamodb:table",),
    "Amazon Simple Queue Service": ("sqs:queue",),
    "Amazon Simple Notification Service": ("sns:topic",),
    "Amazon EC2 Container Registry (ECR)": ("ecr:repository",),
    "Amazon Elastic Container Service": ("ecs:service",),
    "Amazon Elastic Container Service for Kubernetes": ("eks:cluster",),
    "AmazonCloudWatch": ("logs:log-group",),
    "Amazon Kinesis": ("kinesis:stream",),
    "Amazon Elastic File System": ("elasticfilesystem:file-system",),
    "Amazon Elastic Load Balancing": ("elasticloadbalancing:loadbalancer",),
    "Amazon ElastiCache": ("elasticache:cluster",),
    "Amazon OpenSearch Service": ("es:domain",),
}
#: Cost Explorer services whose cost belongs to no resource (unattributable, like bill rows
#: without a resource id).
CE_NO_RESOURCE_PREFIXES = ("Tax", "AWS Support", "Savings Plans for ")

ESTIMATE_METHOD = (
    "Cost Explorer has no per-resource costs, so each resource's cost is an estimate: the "
    "monthly amortised cost of a service in an account and region, split evenly over the "
    "scanned resources of that service's types there (an idle bucket gets as much as a busy "
    "one). A service with no scanned resource there counts as spend on resources not in the "
    "inventory; tax, support and Savings Plans fees as unattributable. Totals per service, "
    "account and region are exact; untagged_spend per tag key is exact, straight from Cost "
    "Explorer's cost for resources without that key."
)
_ESTIMATE_PLACES = Decimal("1E-10")


@dataclass(frozen=True, slots=True)
class ServiceCost:
    """One Cost Explorer figure: a service's cost in one account and region and month."""

    account_id: str
    region: str
    service: str
    cost: Decimal


def estimated_charges(
    service_costs: Iterable[ServiceCost], resources: Iterable[InventoryResource]
) -> Iterator[Charge]:
    """Per-resource charges estimated from service costs, as described in ESTIMATE_METHOD.

    A service's cost is split into equal parts (to 1e-10) and the first resource in ARN order
    also takes what the division leaves, so the parts add up to the service's cost exactly.
    """
    by_place: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for resource in resources:
        by_place[(resource.account_id, resource.region, resource.resource_type)].append(
            resource.arn
        )
    with localcontext() as context:
        context.prec = 60
        for item in service_costs:
            if item.service.startswith(CE_NO_RESOURCE_PREFIXES):
                yield Charge(item.account_id, item.region, item.service, "", "Usage", item.cost)
                continue
            arns = sorted(
                arn
                for resource_type in CE_SERVICE_TYPES.get(item.service, ())
                for arn in by_place.get((item.account_id, item.region, resource_type), ())
            )
            if not arns:
                unscanned = f"{item.service} (no scanned resource)"
                yield Charge(
                    item.account_id, item.region, item.service, unscanned, "Usage", item.cost
                )
                continue
            part = (item.cost / len(arns)).quantize(_ESTIMATE_PLACES, rounding=ROUND_DOWN)
            first = item.cost - part * (len(arns) - 1)
            for index, arn in enumerate(arns):
                cost = first if index == 0 else part
                yield Charge(item.account_id, item.region, item.service, arn, "Usage", cost)


def resource_costs(
    charges: Iterable[Charge], resources: Iterable[InventoryResource], arns: Iterable[str]
) -> dict[str, Decimal]:
    """Cost in the period of each of ``arns`` (zero when the bill has no charge for it).

    ``resources`` must hold the whole inventory of the accounts concerned, not just ``arns``:
    whether a bare id is ambiguous depends on every resource that shares it.
    """
    index = ResourceIndex(resources)
    wanted = {arn: ZERO for arn in arns if arn in index.by_arn}
    with localcontext() as context:
        context.prec = 60
        for charge in charges:
            if not charge.resource_id:
                continue
            resource = index.match(charge.account_id, charge.region, charge.resource_id)
            if resource is not None and resource.arn in wanted:
                wanted[resource.arn] += charge.cost
    return wanted
