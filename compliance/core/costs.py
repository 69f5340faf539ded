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

Per required tag key, two figures that are easy to confuse and so are defined here only:

- ``untagged_spend``: spend of the resources *without* the key as written:
  ``missing_required_tag``, ``wrong_key_case`` or ``hidden_characters_in_key`` (tag keys are
  case-sensitive, so ``owner`` or ``Own\u200ber`` is another key to AWS, to the bill, to Cost
  Explorer and to showback, which all compare keys exactly);
- ``noncompliant_spend``: spend of the resources that violate the key in *any* way (without it,
  as above, or with it and a blank, refused or ill-formed value).

So ``untagged_spend <= noncompliant_spend <= attribution_gap`` for every key, and both are sums
of the spend of inventory resources (:func:`key_absent`, :meth:`Attribution.charge_key`).

Amounts stay exact; :func:`to_cents` rounds (half to even) only for presentation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext

from compliance.core.policy.model import (
    HIDDEN_CHARACTERS_IN_KEY,
    MISSING_REQUIRED_TAG,
    WRONG_KEY_CASE,
)

ZERO = Decimal(0)
CENT = Decimal("0.01")

#: The four buckets, named as the fields of :class:`CostSplit` (and the stored rows' columns).
ATTRIBUTABLE = "attributable"
ATTRIBUTION_GAP = "attribution_gap"
UNATTRIBUTABLE = "unattributable"
UNMATCHED_RESOURCE = "unmatched_resource"
BUCKETS = (ATTRIBUTABLE, ATTRIBUTION_GAP, UNATTRIBUTABLE, UNMATCHED_RESOURCE)

#: ``by_resource_type`` keys for charges that have no inventory resource.
NO_RESOURCE = "(no resource)"
NOT_IN_INVENTORY = "(not in inventory)"

#: Where a charge is counted: (account, region, service, resource type, charge category), the
#: keys of the ``by_*`` breakdowns of :class:`Attribution`, in that order.
Where = tuple[str, str, str, str, str]

#: The violations of a required key that leave a resource without it: they put its spend in
#: ``untagged_spend``; every violation of the key puts it in ``noncompliant_spend``.
KEY_ABSENT_VIOLATIONS = frozenset({MISSING_REQUIRED_TAG, WRONG_KEY_CASE, HIDDEN_CHARACTERS_IN_KEY})


def key_absent(violation_type: str) -> bool:
    """Whether a violation of this type means the resource is without the required key as
    written (the policy engine gives at most one of these per key)."""
    return violation_type in KEY_ABSENT_VIOLATIONS


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
    #: Those of ``violating_tags`` it is without (:func:`key_absent`).
    absent_tags: frozenset[str] = frozenset()


#: An ARN's resource part follows its fifth colon (``arn:partition:service:region:account:``).
RESOURCE_PART_COLONS = 5
#: A bare id is the resource part, or what follows its last occurrence of one of these.
ID_KEY_SEPARATORS = ("/", ":")


def id_keys(arn: str) -> set[str]:
    """The ways a bill may name the resource of ``arn`` instead of by its ARN.

    CUR and FOCUS carry the ARN for most services but a bare id for others: ``i-0abc`` for an
    instance, ``vol-0abc`` for a volume, the bucket name for S3, ``db:name`` style ids for RDS.
    So every suffix of the resource part is a key: after the fifth colon, and after its last
    ``/`` and last ``:``. The SQL matching (``compliance.stored.costs.matching``) builds its
    keys from the same two constants.
    """
    parts = arn.split(":", RESOURCE_PART_COLONS)
    if len(parts) <= RESOURCE_PART_COLONS or not parts[RESOURCE_PART_COLONS]:
        return set()
    resource = parts[RESOURCE_PART_COLONS]
    suffixes = {resource.rsplit(separator, 1)[-1] for separator in ID_KEY_SEPARATORS}
    return ({resource} | suffixes) - {""}


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


def bucket_of(names_resource: bool, resource_type: str | None, violates: bool) -> tuple[str, str]:
    """The bucket of one charge, and the ``by_resource_type`` key it is shown under.

    ``names_resource``: the charge carries a resource id; ``resource_type``: the type of the
    inventory resource it was matched to (``None``: none); ``violates``: that resource has a
    violation that counts. The stored refresh and the in-memory attribution both ask here.
    """
    if not names_resource:
        return UNATTRIBUTABLE, NO_RESOURCE
    if resource_type is None:
        return UNMATCHED_RESOURCE, NOT_IN_INVENTORY
    return (ATTRIBUTION_GAP if violates else ATTRIBUTABLE), resource_type


def counts_in_monthly_cost(charge_account_id: str, resource_account_id: str) -> bool:
    """Whether a charge matched to a resource adds to that resource's monthly cost.

    Only its own account's charges do: a charge of another account that names it by ARN (a
    shared resource) is still attributed to it, but belongs to that other account's money,
    whose latest period may not be the resource's account's.
    """
    return charge_account_id == resource_account_id


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
    #: Required tag key -> spend of the resources without it (:func:`key_absent`). A resource
    #: counts once per key, so these overlap and do not add up to the gap.
    untagged_spend: dict[str, Decimal] = field(default_factory=dict)
    #: Required tag key -> spend of the resources that violate it in any way (absent or not);
    #: overlapping as ``untagged_spend``, and never below it.
    noncompliant_spend: dict[str, Decimal] = field(default_factory=dict)
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

    @classmethod
    def for_keys(cls, required_tags: Collection[str]) -> Attribution:
        """An empty attribution that shows every required key, at zero until charged."""
        keys = sorted(required_tags)
        return cls(
            untagged_spend=dict.fromkeys(keys, ZERO), noncompliant_spend=dict.fromkeys(keys, ZERO)
        )

    def charge_key(self, tag: str, absent: bool, amount: Decimal) -> None:
        """Count ``amount``, spent on resources violating ``tag`` (``absent``: being without
        it), in the per-key figures: the one definition of both, for computed and stored
        figures alike."""
        self.noncompliant_spend[tag] = self.noncompliant_spend.get(tag, ZERO) + amount
        if absent:
            self.untagged_spend[tag] = self.untagged_spend.get(tag, ZERO) + amount

    def charge(self, where: Where, bucket: str, amount: Decimal) -> None:
        """Count ``amount`` in ``bucket``, in the totals and in each breakdown at ``where``:
        charges computed here and cells read back from storage are summed by this one code."""
        self.totals.add(bucket, amount)
        splits = (
            self.by_account,
            self.by_region,
            self.by_service,
            self.by_resource_type,
            self.by_charge_category,
        )
        for split, key in zip(splits, where, strict=True):
            split.setdefault(key, CostSplit()).add(bucket, amount)


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
    result = Attribution.for_keys(required_tags)
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
            bucket, resource_type = bucket_of(
                bool(charge.resource_id),
                resource.resource_type if resource is not None else None,
                resource is not None and bool(resource.violating_tags),
            )
            if bucket == UNMATCHED_RESOURCE:
                result.unmatched_resources[charge.resource_id] = (
                    result.unmatched_resources.get(charge.resource_id, ZERO) + charge.cost
                )
            elif resource is not None:
                result.resource_costs[resource.arn] = (
                    result.resource_costs.get(resource.arn, ZERO) + charge.cost
                )
            where = (
                charge.account_id,
                charge.region,
                charge.service,
                resource_type,
                charge.charge_category,
            )
            result.charge(where, bucket, charge.cost)
        for arn, cost in result.resource_costs.items():
            resource = index.by_arn[arn]
            for tag in resource.violating_tags:
                result.charge_key(tag, tag in resource.absent_tags, cost)
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
    "Explorer's cost for resources without that key (every resource billed, scanned or not); "
    "noncompliant_spend per tag key is the estimate's, over scanned resources only."
)
#: The precision of an estimated share: finer than any bill's amounts, and as fine as the
#: stored amounts (``MONEY_PLACES``).
ESTIMATE_PLACES = Decimal("1E-10")
#: Ends the resource id of a service's cost that no scanned resource can take.
NO_SCANNED_RESOURCE = "(no scanned resource)"
#: The charge category of every estimated charge (Cost Explorer's figures are net usage).
ESTIMATE_CATEGORY = "Usage"


@dataclass(frozen=True, slots=True)
class ServiceCost:
    """One Cost Explorer figure: a service's cost in one account and region and month."""

    account_id: str
    region: str
    service: str
    cost: Decimal


def estimate_types(service: str) -> tuple[str, ...] | None:
    """The resource types a service's cost is split over (empty: none we scan), or ``None``
    when it belongs to no resource at all (tax, support, Savings Plans fees)."""
    if service.startswith(CE_NO_RESOURCE_PREFIXES):
        return None
    return CE_SERVICE_TYPES.get(service, ())


def unscanned_resource_id(service: str) -> str:
    """The resource id given to a service's cost when no scanned resource can take it: it names
    a resource (so the cost is unmatched, not unattributable) that no inventory holds."""
    return f"{service} {NO_SCANNED_RESOURCE}"


def estimate_shares(cost: Decimal, count: int) -> tuple[Decimal, Decimal]:
    """(first, part): ``cost`` split over ``count`` resources. Each takes ``part`` (the equal
    share rounded down to ``ESTIMATE_PLACES``), and the first in ARN order also what the
    division leaves, so the shares add up to ``cost`` exactly."""
    with localcontext() as context:
        context.prec = 60
        part = (cost / count).quantize(ESTIMATE_PLACES, rounding=ROUND_DOWN)
        return cost - part * (count - 1), part


def estimated_charges(
    service_costs: Iterable[ServiceCost], resources: Iterable[InventoryResource]
) -> Iterator[Charge]:
    """Per-resource charges estimated from service costs, as described in ESTIMATE_METHOD
    (shares as :func:`estimate_shares` cuts them)."""
    by_place: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for resource in resources:
        by_place[(resource.account_id, resource.region, resource.resource_type)].append(
            resource.arn
        )
    for item in service_costs:
        types = estimate_types(item.service)
        if types is None:
            yield Charge(
                item.account_id, item.region, item.service, "", ESTIMATE_CATEGORY, item.cost
            )
            continue
        arns = sorted(
            arn
            for resource_type in types
            for arn in by_place.get((item.account_id, item.region, resource_type), ())
        )
        if not arns:
            unscanned = unscanned_resource_id(item.service)
            yield Charge(
                item.account_id, item.region, item.service, unscanned, ESTIMATE_CATEGORY, item.cost
            )
            continue
        first, part = estimate_shares(item.cost, len(arns))
        for index, arn in enumerate(arns):
            cost = first if index == 0 else part
            yield Charge(item.account_id, item.region, item.service, arn, ESTIMATE_CATEGORY, cost)


def resource_costs(
    charges: Iterable[Charge], resources: Iterable[InventoryResource], arns: Iterable[str]
) -> dict[str, Decimal]:
    """The monthly cost of each of ``arns``: its own account's charges of the period matched
    to it (:func:`counts_in_monthly_cost`); zero when the bill has no such charge.

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
            if (
                resource is not None
                and resource.arn in wanted
                and counts_in_monthly_cost(charge.account_id, resource.account_id)
            ):
                wanted[resource.arn] += charge.cost
    return wanted


# --- Compliance from the bill ----------------------------------------------------------------

#: What ``keys_on_bill`` can and cannot say.
BILL_TAGS_NOTE = (
    "Only tag keys activated as cost allocation tags appear on the bill, so a key missing from "
    "keys_on_bill may be set on resources yet look absent."
)
#: ARN services whose resource part is a bare name: the type their scanned resources have.
NAME_ONLY_TYPES = {"s3": "s3:bucket", "sqs": "sqs:queue", "sns": "sns:topic"}


def billed_resource_type(resource_id: str) -> str:
    """The resource type of a bill's resource id, named as scanned types are: from an ARN
    ``arn:aws:<service>:...:<type>/...`` (or ``<type>:...``) ``service:type``; ``""`` for a
    bare id, whose type the bill does not say."""
    parts = resource_id.split(":", RESOURCE_PART_COLONS)
    if len(parts) <= RESOURCE_PART_COLONS or parts[0] != "arn" or not parts[2]:
        return ""
    service, resource = parts[2], parts[RESOURCE_PART_COLONS]
    cut_at = min((i for i in (resource.find("/"), resource.find(":")) if i > 0), default=-1)
    if cut_at < 0:
        return NAME_ONLY_TYPES.get(service, "")
    return f"{service}:{resource[:cut_at]}"


@dataclass(slots=True)
class BillJudged:
    """Resources the bill charges and the inventory does not hold, judged against the policy
    from their tags on the bill (resources to which no required tag applies are not judged).

    ``spend`` is part of ``unmatched_resource_spend`` (never more), ``gap`` the part of it on
    resources with a violation; the per-key figures are defined as for inventory resources.
    """

    spend: Decimal = ZERO
    gap: Decimal = ZERO
    resource_count: int = 0
    noncompliant_count: int = 0
    untagged_spend: dict[str, Decimal] = field(default_factory=dict)
    noncompliant_spend: dict[str, Decimal] = field(default_factory=dict)
    #: Every tag key the bill carries on the resources in view.
    keys_on_bill: list[str] = field(default_factory=list)
    #: Whether the bill has a tags column at all (without one, nothing is judged from it).
    bill_has_tags: bool = False
    note: str = BILL_TAGS_NOTE

    @classmethod
    def for_keys(cls, required_tags: Collection[str]) -> BillJudged:
        keys = sorted(required_tags)
        return cls(
            untagged_spend=dict.fromkeys(keys, ZERO), noncompliant_spend=dict.fromkeys(keys, ZERO)
        )

    def add(self, cost: Decimal, violations: Iterable[tuple[str, str]]) -> None:
        """Count one judged resource: its cost and its violations (tag key, violation type)."""
        self.spend += cost
        self.resource_count += 1
        broken: dict[str, bool] = {}
        for tag, kind in violations:
            broken[tag] = broken.get(tag, False) or key_absent(kind)
        if not broken:
            return
        self.gap += cost
        self.noncompliant_count += 1
        for tag, absent in broken.items():
            self.noncompliant_spend[tag] = self.noncompliant_spend.get(tag, ZERO) + cost
            if absent:
                self.untagged_spend[tag] = self.untagged_spend.get(tag, ZERO) + cost


@dataclass(frozen=True, slots=True)
class JudgedSplit:
    """The total spend by how its compliance is known; the three add up to the total."""

    by_scan: Decimal
    by_bill: Decimal
    not_judged: Decimal


def judged_split(
    attributable: Decimal,
    attribution_gap: Decimal,
    unattributable: Decimal,
    unmatched_resource: Decimal,
    by_bill: Decimal,
) -> JudgedSplit:
    """Spend judged by a scan (inventory resources), from the bill (:class:`BillJudged`), and
    not at all (no resource, or a resource neither scanned nor judged from the bill)."""
    return JudgedSplit(
        by_scan=attributable + attribution_gap,
        by_bill=by_bill,
        not_judged=unattributable + unmatched_resource - by_bill,
    )
