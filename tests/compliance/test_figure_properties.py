"""Each figure has one definition, in the pure core; the paths that compute it in SQL for speed
(the stored costs, the listing, the compliance counts and snapshots) give what the core gives,
for every generated estate and bill, on SQLite and on PostgreSQL.

The estates are small but crowded: few names, so that bare ids collide within an account,
across types, regions and letter case; names with ``/`` and ``:`` inside, a non-ASCII one, and
one that makes a resource's bare id another resource's ARN. Bills name resources by ARN, by any
of their bare ids, by ids no resource has, or name none; from the resource's account, another
registered one, an unregistered one or none. Amounts have at most four decimals and stay below
ten thousand, so that SQLite, which keeps decimals as floats, holds them exactly: the figures
are then compared exactly, except the listing's per-row SQL sum (floats on SQLite), compared to
the cent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from compliance import reads
from compliance.core import costs, policy
from compliance.models import (
    AwsAccount,
    BillingImport,
    CostExplorerFigure,
    CostLine,
    Exemption,
    Resource,
    Scan,
    TaggingPolicy,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.reads import compliance_counts as figures
from compliance.reads import listings
from compliance.scans.snapshots import take_snapshots
from compliance.stored import costs as stored_costs
from compliance.stored.costs import matching
from compliance.stored.summary import store_figures, stored_summary

pytestmark = pytest.mark.django_db

A = "111111111111"
B = "222222222222"
UNREGISTERED = "333333333333"
REGISTERED = (A, B)
REGIONS = ("us-east-1", "eu-west-1")
REQUIRED = ("Environment", "Owner")
MAY = datetime(2024, 5, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)

#: How an ARN names a resource of each type.
SHAPES = {
    "ec2:instance": "arn:aws:ec2:{region}:{account}:instance/{name}",
    "ec2:volume": "arn:aws:ec2:{region}:{account}:volume/{name}",
    "ec2:natgateway": "arn:aws:ec2:{region}:{account}:natgateway/{name}",
    "s3:bucket": "arn:aws:s3:::{name}",
    "sqs:queue": "arn:aws:sqs:{region}:{account}:{name}",
    "dynamodb:table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "rds:db": "arn:aws:rds:{region}:{account}:db:{name}",
    "logs:log-group": "arn:aws:logs:{region}:{account}:log-group:/aws/{name}",
}
#: Few names, so that bare ids collide; the first two most often. A log group named after the
#: bucket ``x``'s ARN has that ARN as a bare id.
NAMES = ("jobs", "orders", "Jobs", "a/b", "q:r", "naïve", "x", "arn:aws:s3:::x")
names = st.sampled_from(NAMES[:2]) | st.sampled_from(NAMES)
SERVICES = ("Amazon EC2", "Amazon S3", "Amazon SQS", "Tax", "AWS Support (Business)")
CATEGORIES = tuple(CostLine.ChargeCategory.values)
#: Cost Explorer services: spread over resources of some of SHAPES' types, over types nobody
#: scanned, or over no resource at all.
CE_SERVICES = (
    "Amazon Elastic Compute Cloud - Compute",
    "EC2 - Other",
    "Amazon Virtual Private Cloud",
    "Amazon Simple Storage Service",
    "Amazon Simple Queue Service",
    "AmazonCloudWatch",
    "Amazon Redshift",
    "Tax",
    "Savings Plans for AWS Compute usage",
)

amounts = st.decimals(min_value=Decimal("-999.9999"), max_value=Decimal("9999.9999"), places=4).map(
    lambda amount: amount + 0
)  # no negative zero

#: Each example rolls back what it wrote, so the examples share the test's database fixture.
properties = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


Kind = Violation.Type
#: The ways a scan finds one required key broken: without it as written (missing, in another
#: letter case, with hidden characters in its name), or with it and a bad value (one or two
#: findings).
BREAKS: tuple[tuple[str, ...], ...] = (
    (Kind.MISSING_REQUIRED_TAG.value,),
    (Kind.HIDDEN_CHARACTERS_IN_KEY.value,),
    (Kind.WRONG_KEY_CASE.value,),
    (Kind.INVALID_VALUE.value,),
    (Kind.INVALID_FORMAT.value,),
    (Kind.INVALID_VALUE.value, Kind.INVALID_FORMAT.value),
)


@dataclass(frozen=True, slots=True)
class Held:
    """A resource of a generated estate."""

    arn: str
    account_id: str
    region: str
    resource_type: str
    #: (tag, violation type), as the scan found them.
    violating: frozenset[tuple[str, str]]
    gone: bool

    def inventory(self) -> costs.InventoryResource:
        return costs.InventoryResource(
            self.arn,
            self.account_id,
            self.region,
            self.resource_type,
            frozenset(tag for tag, _ in self.violating),
            frozenset(tag for tag, kind in self.violating if costs.key_absent(kind)),
        )

    def findings(self) -> frozenset[tuple[str, str]]:
        return self.violating


def broken(breaks: dict[str, tuple[str, ...]]) -> frozenset[tuple[str, str]]:
    return frozenset((tag, kind) for tag, kinds in breaks.items() for kind in kinds)


@st.composite
def estates(draw: st.DrawFn) -> list[Held]:
    specs = draw(
        st.lists(
            st.tuples(
                st.sampled_from(sorted(SHAPES)),
                names,
                st.sampled_from(REGISTERED),
                st.sampled_from(REGIONS),
                st.dictionaries(st.sampled_from(REQUIRED), st.sampled_from(BREAKS)).map(broken),
                st.sampled_from([False, False, False, True]),
            ),
            max_size=12,
        )
    )
    held: dict[str, Held] = {}
    for resource_type, name, account_id, region, violating, gone in specs:
        arn = SHAPES[resource_type].format(region=region, account=account_id, name=name)
        held.setdefault(arn, Held(arn, account_id, region, resource_type, violating, gone))
    return list(held.values())


@st.composite
def billed_estates(draw: st.DrawFn) -> tuple[list[Held], list[costs.Charge]]:
    """An estate, and bill lines naming its resources (present or gone) every way a bill may."""
    estate = draw(estates())
    lines = []
    for _ in range(draw(st.integers(0, 14))):
        home_account, home_region = draw(st.sampled_from(REGISTERED)), ""
        way = draw(st.sampled_from(["arn", "bare id", "bare id", "name", "none", "unknown"]))
        if way in ("arn", "bare id") and estate:
            resource = draw(st.sampled_from(estate))
            home_account, home_region = resource.account_id, resource.region
            # The shortest key (the name) is the one other resources share most often.
            keys = sorted(costs.id_keys(resource.arn), key=lambda key: (len(key), key))
            shared = st.just(keys[0]) | st.sampled_from(keys)
            resource_id = resource.arn if way == "arn" else draw(shared)
        elif way == "name":
            resource_id = draw(names)
        elif way == "unknown":
            resource_id = f"arn:aws:ec2:us-east-1:{home_account}:instance/i-unknown"
        else:
            resource_id = ""
        account_id = draw(
            st.sampled_from([home_account, home_account, home_account, A, B, UNREGISTERED, ""])
        )
        region = draw(st.sampled_from([home_region, *REGIONS, ""]))
        lines.append(
            costs.Charge(
                account_id=account_id,
                region=region,
                service=draw(st.sampled_from(SERVICES)),
                resource_id=resource_id,
                charge_category=draw(st.sampled_from(CATEGORIES)),
                cost=draw(amounts),
            )
        )
    return estate, lines


@st.composite
def service_costs(draw: st.DrawFn) -> list[costs.ServiceCost]:
    return draw(
        st.lists(
            st.builds(
                costs.ServiceCost,
                account_id=st.sampled_from(REGISTERED),
                region=st.sampled_from([*REGIONS, ""]),
                service=st.sampled_from(CE_SERVICES),
                cost=amounts,
            ),
            max_size=10,
        )
    )


def _held(
    resource_type: str, name: str, account_id: str, region: str, *violating: str | tuple[str, str]
) -> Held:
    """A present resource; each of ``violating`` a missing key, or a (key, violation type)."""
    arn = SHAPES[resource_type].format(region=region, account=account_id, name=name)
    found = frozenset(
        (item, Kind.MISSING_REQUIRED_TAG.value) if isinstance(item, str) else item
        for item in violating
    )
    return Held(arn, account_id, region, resource_type, found, gone=False)


EAST, WEST = REGIONS
QUEUE_EAST = _held("sqs:queue", "jobs", A, EAST)
QUEUE_WEST = _held("sqs:queue", "jobs", A, WEST, "Owner")
TABLE_WEST = _held(
    "dynamodb:table",
    "jobs",
    A,
    WEST,
    ("Owner", Kind.HIDDEN_CHARACTERS_IN_KEY.value),
    ("Environment", Kind.INVALID_VALUE.value),
)
INSTANCE = _held(
    "ec2:instance",
    "orders",
    A,
    EAST,
    ("Environment", Kind.INVALID_VALUE.value),
    ("Environment", Kind.INVALID_FORMAT.value),
)
GONE = Held(f"arn:aws:ec2:{WEST}:{A}:instance/orders-2", A, WEST, "ec2:instance", frozenset(), True)
QUEUE_B = _held("sqs:queue", "jobs", B, EAST)
BUCKET = _held("s3:bucket", "x", A, EAST, "Owner")
#: Its bare id after the last ``/`` is the bucket's ARN: the ARN wins.
LOG_GROUP = _held("logs:log-group", "arn:aws:s3:::x", A, EAST)
VOLUME = _held("ec2:volume", "naïve", B, WEST)
VOLUME_2 = _held("ec2:volume", "jobs", B, WEST, "Environment")
NAT = _held("ec2:natgateway", "a/b", B, WEST, ("Owner", Kind.WRONG_KEY_CASE.value))
CROWDED_ESTATE = [QUEUE_EAST, QUEUE_WEST, TABLE_WEST, INSTANCE, GONE, QUEUE_B, BUCKET, LOG_GROUP]
CROWDED_ESTATE += [VOLUME, VOLUME_2, NAT]


def _line(account_id: str, region: str, resource_id: str, cost: str) -> costs.Charge:
    return costs.Charge(account_id, region, "Amazon SQS", resource_id, "Usage", Decimal(cost))


#: Every way of matching, once: settled by region, left ambiguous (in one region, in none), by
#: ARN from another account (registered or not), by a key that is another resource's ARN, by a
#: gone resource's id, by an unknown id, and no resource at all.
CROWDED = (
    CROWDED_ESTATE,
    [
        _line(A, EAST, "jobs", "1.5"),
        _line(A, WEST, "jobs", "2.25"),
        _line(A, "", "jobs", "3"),
        _line(B, EAST, "jobs", "4"),
        _line(A, WEST, "orders", "5.0001"),
        _line(A, WEST, "i-unknown", "6"),
        _line(UNREGISTERED, EAST, QUEUE_WEST.arn, "7"),
        _line(B, EAST, INSTANCE.arn, "8"),
        _line(A, EAST, BUCKET.arn, "9"),
        _line(A, EAST, "orders-2", "10"),
        _line(B, WEST, "a/b", "-0.5"),
        _line(B, WEST, "b", "11"),
        _line("", "", "", "12.34"),
        _line(A, EAST, "", "0.66"),
    ],
)
CROWDED_ESTIMATE = [
    costs.ServiceCost(A, WEST, "Amazon Simple Queue Service", Decimal("10")),
    costs.ServiceCost(B, WEST, "EC2 - Other", Decimal("100")),
    costs.ServiceCost(B, WEST, "Amazon Virtual Private Cloud", Decimal("0.0001")),
    costs.ServiceCost(A, EAST, "Amazon Elastic Compute Cloud - Compute", Decimal("3")),
    costs.ServiceCost(A, EAST, "Amazon Redshift", Decimal("7.77")),
    costs.ServiceCost(A, "", "Tax", Decimal("4.2")),
    costs.ServiceCost(B, "", "Savings Plans for AWS Compute usage", Decimal("-2")),
]


@contextmanager
def rolled_back() -> Iterator[None]:
    """Whatever an example writes is undone before the next one."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def store_inventory(
    document: dict[str, Any], resources: Sequence[Held | Judged]
) -> tuple[Scan, dict[str, Resource]]:
    """Accounts, resources and violations as a scan by ``document`` leaves them."""
    now = timezone.now()
    judging = policy.policy_from_dict(document)
    policy_row = TaggingPolicy.objects.create(
        version=1, source_format="mcp_json", document=document, source_text="{}", is_active=True
    )
    scan = Scan.objects.create(status=Scan.Status.COMPLETE, policy=policy_row, finished_at=now)
    accounts = {a: AwsAccount.objects.create(account_id=a, name=f"account {a}") for a in REGISTERED}
    stored = {}
    for held in resources:
        found = held.findings()
        stored[held.arn] = Resource.objects.create(
            arn=held.arn,
            account=accounts[held.account_id],
            region=held.region,
            resource_type=held.resource_type,
            first_seen_at=now,
            last_seen_at=now,
            gone_since=now if held.gone else None,
            last_seen_scan=scan,
            # What the scan writes: every finding counts, no exemption applies yet.
            is_compliant=policy.is_compliant(
                policy.is_in_scope(judging, held.resource_type), len(found)
            ),
            violation_count=len(found),
        )
        Violation.objects.bulk_create(
            Violation(
                resource=stored[held.arn],
                scan=scan,
                policy=policy_row,
                violation_type=kind,
                tag_name=tag,
                first_detected_at=now,
            )
            for tag, kind in sorted(found)
        )
    return scan, stored


def store_estate(estate: Sequence[Held]) -> dict[str, Resource]:
    return store_inventory({"required_tags": [{"name": name} for name in REQUIRED]}, estate)[1]


def store_bill(lines: Sequence[costs.Charge]) -> None:
    if not lines:
        return
    bill = BillingImport.objects.create(
        source="generated.csv",
        source_format=BillingImport.Format.FOCUS,
        billing_period_start=MAY,
        billing_period_end=JUNE,
        account_ids=sorted({line.account_id for line in lines}),
        row_count=len(lines),
        line_count=len(lines),
        currency="USD",
        effective_total=sum((line.cost for line in lines), Decimal(0)),
        billed_total=sum((line.cost for line in lines), Decimal(0)),
        imported_by="test",
    )
    CostLine.objects.bulk_create(
        CostLine(
            billing_import=bill,
            source_format=bill.source_format,
            billing_period_start=MAY,
            account_id=line.account_id,
            region=line.region,
            service=line.service,
            resource_id=line.resource_id,
            charge_category=line.charge_category,
            effective_cost=line.cost,
            billed_cost=line.cost,
            row_count=1,
        )
        for line in lines
    )


def store_service_costs(figures_: Sequence[costs.ServiceCost]) -> None:
    CostExplorerFigure.objects.bulk_create(
        CostExplorerFigure(
            period_start=MAY,
            period_end=JUNE,
            account_id=item.account_id,
            region=item.region,
            dimension=CostExplorerFigure.Dimension.SERVICE,
            key=item.service,
            amount=item.cost,
            currency="USD",
        )
        for item in figures_
    )


def present(estate: Sequence[Held]) -> list[costs.InventoryResource]:
    return [held.inventory() for held in estate if not held.gone]


def stored_attribution() -> costs.Attribution:
    found = stored_costs.attribution(
        stored_costs.Scope(frozenset(REGISTERED), everything=True),
        None,
        required_tags=REQUIRED,
        now=timezone.now(),
    )
    assert found is not None, "the stored figures do not answer"
    return found.attribution


def assert_same_attribution(stored: costs.Attribution, core: costs.Attribution) -> None:
    """Figure by figure, so that a failure names the figure."""
    assert stored.totals == core.totals
    assert stored.total_spend == core.total_spend
    assert stored.untagged_spend == core.untagged_spend
    assert stored.noncompliant_spend == core.noncompliant_spend
    assert stored.by_account == core.by_account
    assert stored.by_region == core.by_region
    assert stored.by_service == core.by_service
    assert stored.by_resource_type == core.by_resource_type
    assert stored.by_charge_category == core.by_charge_category


def stored_monthly_costs() -> dict[str, Decimal | None]:
    return dict(Resource.objects.filter(gone_since__isnull=True).values_list("arn", "monthly_cost"))


def listed_costs(bill: listings.LatestBill) -> dict[str, Any]:
    found = Resource.objects.filter(gone_since__isnull=True)
    return {
        row["arn"]: row["listed_cost"]
        for row in listings.listed(found, "arn", bill, now=timezone.now())
    }


# --- Costs -------------------------------------------------------------------------------------


Billed = tuple[list[Held], list[costs.Charge]]


def over_billed_estates(test: Callable[[Billed], None]) -> Callable[..., None]:
    """Run ``test`` over generated estates with their bills, and the crowded one."""
    return properties(given(billed=billed_estates())(example(billed=CROWDED)(test)))


@contextmanager
def stored(billed: Billed, *, refreshed: bool = True) -> Iterator[dict[str, Resource]]:
    """The estate and its bill in the database (refreshed: with the stored costs computed)."""
    estate, lines = billed
    with rolled_back():
        resources = store_estate(estate)
        store_bill(lines)
        if refreshed:
            stored_costs.refresh_costs()
        yield resources


def as_stored(monthly: dict[str, Decimal], covered: set[str]) -> dict[str, Decimal | None]:
    """Monthly costs as stored: none for a resource not ``covered`` (its account has no money)."""
    return {arn: monthly[arn] if arn in covered else None for arn in monthly}


@over_billed_estates
def test_bill_lines_go_to_the_resource_the_core_matches(billed: Billed) -> None:
    estate, lines = billed
    with stored(billed, refreshed=False) as resources:
        by_pk = {resource.pk: arn for arn, resource in resources.items()}
        charged = sorted({line.account_id for line in lines})
        in_sql = Counter(
            (line.account_id, line.region, line.service, line.charge_category, line.cost, arn)
            for line in matching.matched_lines(
                {MAY: charged} if lines else {}, sorted(set(charged) & set(REGISTERED))
            )
            for arn in [by_pk[line.resource_id] if line.resource_id is not None else None]
        )
        index = costs.ResourceIndex(present(estate))
        in_core = Counter(
            (line.account_id, line.region, line.service, line.charge_category, line.cost, arn)
            for line in lines
            for match in [
                index.match(line.account_id, line.region, line.resource_id)
                if line.resource_id
                else None
            ]
            for arn in [match.arn if match is not None else None]
        )
        assert in_sql == in_core


@over_billed_estates
def test_the_stored_attribution_of_a_bill_is_the_cores(billed: Billed) -> None:
    estate, lines = billed
    with stored(billed):
        core = costs.attribute(lines, present(estate), required_tags=REQUIRED)
        assert_same_attribution(stored_attribution(), core)
        total = sum((line.cost for line in lines), Decimal(0))
        assert core.total_spend == total


@over_billed_estates
def test_untagged_spend_is_within_noncompliant_spend_within_the_total(billed: Billed) -> None:
    """For every required key, computed and stored: untagged <= non-compliant <= gap <= total,
    over a bill without credits (a negative charge may sink any of them below another)."""
    estate, lines = billed
    charges = [line for line in lines if line.cost >= 0]
    with stored((estate, charges)):
        core = costs.attribute(charges, present(estate), required_tags=REQUIRED)
        for figures_ in (core, stored_attribution()):
            assert set(figures_.untagged_spend) == set(figures_.noncompliant_spend) == set(REQUIRED)
            for key in REQUIRED:
                assert (
                    figures_.untagged_spend[key]
                    <= figures_.noncompliant_spend[key]
                    <= figures_.attribution_gap
                    <= figures_.total_spend
                ), key


@over_billed_estates
def test_noncompliant_spend_adds_what_resources_with_a_bad_key_spend(billed: Billed) -> None:
    """Exactly, credits included: non-compliant = untagged + the cost of the resources that
    have the key but break it (wrong case, bad value or format)."""
    estate, lines = billed
    core = costs.attribute(lines, present(estate), required_tags=REQUIRED)
    for key in REQUIRED:
        present_but_broken = {
            held.arn
            for held in estate
            if not held.gone
            and any(tag == key for tag, _ in held.violating)
            and not any(tag == key and costs.key_absent(kind) for tag, kind in held.violating)
        }
        broken_spend = sum(
            (cost for arn, cost in core.resource_costs.items() if arn in present_but_broken),
            Decimal(0),
        )
        assert core.noncompliant_spend[key] == core.untagged_spend[key] + broken_spend


@over_billed_estates
def test_each_resources_monthly_cost_is_the_cores(billed: Billed) -> None:
    """Stored by the refresh, summed per row by the listing, and read for any caller."""
    estate, lines = billed
    with stored(billed):
        inventory = present(estate)
        core = costs.resource_costs(lines, inventory, [r.arn for r in inventory])
        charged = {r.arn for r in inventory if r.account_id in {line.account_id for line in lines}}
        assert stored_monthly_costs() == as_stored(core, charged)
        summed_per_row = listings.LatestBill(
            MAY, JUNE, BillingImport.Format.FOCUS, "USD", accounts=frozenset(REGISTERED)
        )
        assert {
            arn: costs.to_cents(cost) for arn, cost in listed_costs(summed_per_row).items()
        } == {arn: costs.to_cents(cost) for arn, cost in core.items()}
        read = reads.resource_costs(Operator(), core)
        assert read == (core if lines else dict.fromkeys(core))


@properties
@given(estate=estates(), estimated=service_costs())
@example(estate=CROWDED_ESTATE, estimated=CROWDED_ESTIMATE)
def test_the_estimate_from_cost_explorer_is_the_cores(
    estate: list[Held], estimated: list[costs.ServiceCost]
) -> None:
    """Split over the resources, attributed, and each resource's share as its monthly cost."""
    with rolled_back():
        store_estate(estate)
        store_service_costs(estimated)
        stored_costs.refresh_costs()
        inventory = present(estate)
        charges = list(costs.estimated_charges(estimated, inventory))
        core = costs.attribute(charges, inventory, required_tags=REQUIRED)
        assert_same_attribution(stored_attribution(), core)
        assert core.total_spend == sum((item.cost for item in estimated), Decimal(0))
        shares = costs.resource_costs(charges, inventory, [r.arn for r in inventory])
        estimated_accounts = {item.account_id for item in estimated}
        covered = {r.arn for r in inventory if r.account_id in estimated_accounts}
        assert stored_monthly_costs() == as_stored(shares, covered)


@given(cost=amounts, count=st.integers(1, 50))
def test_estimate_shares_add_up_to_the_cost_and_differ_by_less_than_a_step(
    cost: Decimal, count: int
) -> None:
    first, part = costs.estimate_shares(cost, count)
    assert first + part * (count - 1) == cost
    assert part == part.quantize(costs.ESTIMATE_PLACES)
    assert abs(first - part) < count * costs.ESTIMATE_PLACES


# --- Compliance ----------------------------------------------------------------------------------

#: Owner applies to three types, Environment to two of them and one more: the other types are
#: out of scope.
SCOPED_POLICY = {
    "required_tags": [
        {"name": "Owner", "applies_to": ["ec2:instance", "sqs:queue", "s3:bucket"]},
        {"name": "Environment", "applies_to": ["ec2:instance", "rds:db"]},
    ]
}
VIOLATION_KINDS = tuple(Violation.Type.values)


@dataclass(frozen=True, slots=True)
class Judged:
    arn: str
    account_id: str
    region: str
    resource_type: str
    #: (tag, violation type), as the scan found them.
    violations: frozenset[tuple[str, str]]
    gone: bool

    def findings(self) -> frozenset[tuple[str, str]]:
        return self.violations


@dataclass(frozen=True, slots=True)
class Exempting:
    arn: str
    resource_type: str
    account_id: str | None
    tag_key: str
    active: bool

    def covers(self, resource: Judged, tag: str) -> bool:
        return (
            self.active
            and self.arn in ("", resource.arn)
            and self.resource_type in ("", resource.resource_type)
            and self.account_id in (None, resource.account_id)
            and self.tag_key in ("", tag)
        )


@st.composite
def judged_estates(draw: st.DrawFn) -> tuple[list[Judged], list[Exempting]]:
    scoped = policy.policy_from_dict(SCOPED_POLICY)
    judged: dict[str, Judged] = {}
    for resource_type, name, account_id, region, gone in draw(
        st.lists(
            st.tuples(
                st.sampled_from(sorted(SHAPES)),
                st.sampled_from(NAMES[:4]),
                st.sampled_from(REGISTERED),
                st.sampled_from(REGIONS),
                st.sampled_from([False, False, False, True]),
            ),
            max_size=14,
        )
    ):
        arn = SHAPES[resource_type].format(region=region, account=account_id, name=name)
        tags = [rule.name for rule in policy.rules_for_type(scoped, resource_type)]
        found = (
            draw(st.frozensets(st.tuples(st.sampled_from(tags), st.sampled_from(VIOLATION_KINDS))))
            if tags
            else frozenset()
        )
        judged.setdefault(arn, Judged(arn, account_id, region, resource_type, found, gone))
    resources = list(judged.values())
    exemptions = draw(
        st.lists(
            st.builds(
                Exempting,
                arn=st.sampled_from(["", *(r.arn for r in resources)]),
                resource_type=st.sampled_from(["", "ec2:instance", "s3:bucket"]),
                account_id=st.sampled_from([None, *REGISTERED]),
                tag_key=st.sampled_from(["", "Owner", "Environment"]),
                active=st.booleans(),
            ).filter(lambda e: bool(e.arn or e.resource_type or e.account_id or e.tag_key)),
            max_size=3,
        )
    )
    return resources, exemptions


def _judged(
    resource_type: str, account_id: str, *found: tuple[str, str], gone: bool = False
) -> Judged:
    region = WEST if gone else EAST
    arn = SHAPES[resource_type].format(region=region, account=account_id, name="jobs")
    return Judged(arn, account_id, region, resource_type, frozenset(found), gone)


INSTANCE_A = _judged(
    "ec2:instance", A, ("Owner", "missing_required_tag"), ("Environment", "invalid_value")
)
#: Exempted once by type, once by ARN and tag (only one of its two tags), once in another account
#: and once after it expired: compliant, non-compliant, out of scope, and gone.
JUDGED = (
    [
        INSTANCE_A,
        _judged("s3:bucket", A, ("Owner", "wrong_key_case")),
        _judged("sqs:queue", B),
        _judged("dynamodb:table", A),
        _judged("rds:db", B, ("Environment", "invalid_format"), ("Environment", "invalid_value")),
        _judged("ec2:instance", A, ("Owner", "missing_required_tag"), gone=True),
    ],
    [
        Exempting("", "s3:bucket", None, "", active=True),
        Exempting(INSTANCE_A.arn, "", A, "Owner", active=True),
        Exempting("", "", B, "Owner", active=True),
        Exempting("", "", B, "Environment", active=False),
    ],
)


def store_judged(resources: Sequence[Judged], exemptions: Sequence[Exempting]) -> Scan:
    scan, _ = store_inventory(SCOPED_POLICY, resources)
    accounts = {account.account_id: account for account in AwsAccount.objects.all()}
    now = timezone.now()
    owner = User.objects.create_user("owner")
    for exempting in exemptions:
        Exemption.objects.create(
            resource_arn=exempting.arn,
            resource_type=exempting.resource_type,
            account=accounts[exempting.account_id] if exempting.account_id else None,
            tag_key=exempting.tag_key,
            reason="accepted while generated",
            owner=owner,
            created_by="test",
            # An inactive one expired an hour ago: it must change nothing.
            expires_at=now + (timedelta(days=30) if exempting.active else -timedelta(hours=1)),
        )
    return scan


def counted(resource: Judged, exemptions: Sequence[Exempting]) -> int:
    """The violations of ``resource`` no active exemption covers."""
    return sum(
        not any(e.covers(resource, tag) for e in exemptions) for tag, _ in resource.violations
    )


def core_counts(
    resources: Sequence[Judged], exemptions: Sequence[Exempting], group: str = ""
) -> dict[str, policy.ComplianceCounts]:
    """The core's figures of the present resources, per value of ``group`` (one ``""`` key
    over all of them when it is empty)."""
    scoped = policy.policy_from_dict(SCOPED_POLICY)
    groups: dict[str, list[tuple[bool, int]]] = {}
    for resource in resources:
        if not resource.gone:
            key = getattr(resource, group) if group else ""
            groups.setdefault(key, []).append(
                (policy.is_in_scope(scoped, resource.resource_type), counted(resource, exemptions))
            )
    return {key: policy.count_compliance(facts) for key, facts in sorted(groups.items())}


@properties
@given(estate=judged_estates())
@example(estate=JUDGED)
def test_compliance_counts_and_score_are_the_cores(
    estate: tuple[list[Judged], list[Exempting]],
) -> None:
    """Counted in SQL per request, stored per account at finalisation, and per listed row."""
    resources, exemptions = estate
    with rolled_back():
        scan = store_judged(resources, exemptions)
        now = timezone.now()
        total = core_counts(resources, exemptions).get("", policy.ComplianceCounts())
        in_sql = Resource.objects.filter(gone_since__isnull=True)
        assert figures.count_resources_total(in_sql, now=now) == total
        take_snapshots(scan, policy.policy_from_dict(SCOPED_POLICY), now)
        store_figures(scan, now)
        stored = stored_summary(scan, list(REGISTERED))
        assert stored.totals == total
        for group, column, breakdown in (
            ("account_id", "account__account_id", stored.by_account),
            ("region", "region", stored.by_region),
            ("resource_type", "resource_type", stored.by_type),
        ):
            expected = core_counts(resources, exemptions, group)
            assert dict(breakdown) == expected
            live = figures.count_resources(in_sql, [column], now=now)
            assert {key: found for (key,), found in live.items()} == expected
        summary = reads.compliance_summary(Operator(), now=now)
        assert summary.compliance_score == total.compliance_score
        assert (summary.in_scope_resources, summary.compliant_resources) == (
            total.in_scope_resources,
            total.compliant_resources,
        )
        scoped = policy.policy_from_dict(SCOPED_POLICY)
        statuses = {
            r.arn: policy.is_compliant(
                policy.is_in_scope(scoped, r.resource_type), counted(r, exemptions)
            )
            for r in resources
            if not r.gone
        }
        page = listings.resource_page(Operator(), listings.ResourceQuery(), now=now)
        assert {row.arn: row.compliant for row in page.rows} == statuses
        for state, verdict in (
            ("compliant", True),
            ("noncompliant", False),
            ("out_of_scope", None),
        ):
            query = listings.ResourceQuery(compliance=state)
            found = listings.resources(Operator(), query, now=now)
            assert set(found.values_list("arn", flat=True)) == {
                arn for arn, status in statuses.items() if status is verdict
            }
