"""Showback as allocated: what the allocation rules give each value, the shared costs split over
the values, what the rules leave without a value, and that the rules never change compliance;
then the same question through every face (reader, command, MCP over HTTP with an API key and
an OAuth token, MCP over stdio, the dashboard page and its CSV), giving the same numbers.

The estate is ``test_showback.build_showback_estate`` with a third allowed value ``cc-300``,
a CloudFormation stack shared by ``i-0aaa`` (cc-100) and the queue (no valid value), an
untagged volume of ``i-0ccc`` in account B, and two more bill lines. As tagged (May 2024):

- cc-100: i-0aaa 9.5712345 + i-0bbb 19.000 = 28.5712345; cc-200: i-0ccc 80.00
- invalid: the bucket ("bogus"), 3.333; untagged: the queue 1.234 and the volume 2.00
- unattributable: tax A 4.20, tax B 8.00, support 9.99 and a support credit -10.00 = 12.19
- unmatched: i-0zzz, 5.55; total 132.8782345
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from allauth.idp.oidc.models import Client as OAuthClient
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.utils import timezone
from mcp import Client

from compliance import reads
from compliance.audit.events import EventType
from compliance.core import allocation
from compliance.models import (
    AllocationRule,
    AuditEvent,
    AwsAccount,
    Resource,
    Scan,
    SharedCostRule,
    TaggingPolicy,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.reads.allocation import rule_of
from compliance.reads.showback import Showback, rule_reach, showback_fields
from compliance.reads.summary import compliance_summary
from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule
from compliance.writes.costs import do_import_costs
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import build_server
from mcp_endpoint.tools.cost_tools import TOOLS as COST_TOOLS
from tests.compliance.billing.bills import (
    BUCKET,
    FOCUS_HEADER,
    I_AAA,
    I_BBB,
    I_CCC,
    A,
    B,
    focus_row,
    write_csv,
)
from tests.compliance.test_showback import KEY, QUEUE, ROWS, build_showback_estate
from tests.compliance.views.conftest import signed_in
from tests.compliance.views.test_allocation_page import csv_lines, page, table
from tests.conftest import grant
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post
from tests.mcp_endpoint.test_oauth import CLIENT_ID, REDIRECT_URI, SIGNING_KEY, obtain_token
from tests.mcp_endpoint.test_oauth import call as oauth_call

STACK = f"arn:aws:cloudformation:us-east-1:{A}:stack/web/0f1e2d3c"
VOLUME = f"arn:aws:ec2:eu-west-1:{B}:volume/vol-0001"
SUPPORT = "AWS Support (Business)"

CC_100 = Decimal("28.5712345")
CC_200 = Decimal("80.00")
QUEUE_SPEND = Decimal("1.234")
VOLUME_SPEND = Decimal("2.00")
BUCKET_SPEND = Decimal("3.333")
ZZZ_SPEND = Decimal("5.55")
UNTAGGED = QUEUE_SPEND + VOLUME_SPEND
UNATTRIBUTABLE = Decimal("12.19")
TOTAL = Decimal("132.8782345")
ZERO = Decimal(0)


def build_allocation_estate(tmp_path: Path) -> None:
    build_showback_estate(tmp_path)
    policy = TaggingPolicy.objects.get(is_active=True)
    policy.document["required_tags"][3]["allowed_values"] = ["cc-100", "cc-200", "cc-300"]
    policy.save()
    Resource.objects.filter(arn=I_AAA).update(
        tags={KEY: "cc-100", "Owner": "ann", allocation.STACK_TAG: STACK}
    )
    Resource.objects.filter(arn=QUEUE).update(
        tags={"costcenter": "cc-100", allocation.STACK_TAG: STACK}
    )
    now = timezone.now()
    Resource.objects.create(
        arn=VOLUME,
        account=AwsAccount.objects.get(account_id=B),
        region="eu-west-1",
        resource_type="ec2:volume",
        name="data",
        tags={},
        attributes={"parent_arn": I_CCC},
        first_seen_at=now,
        last_seen_at=now,
        last_seen_scan=Scan.objects.get(),
        is_compliant=False,
    )
    rows = [
        *ROWS,
        focus_row(B, "eu-west-1", "Amazon EC2", VOLUME, "Usage", "2.00", "2.00"),
        focus_row(A, "", SUPPORT, "", "Credit", "-10.00", "-10.00"),
    ]
    do_import_costs(str(write_csv(tmp_path / "may.csv", FOCUS_HEADER, rows)), acting=Operator())


@pytest.fixture
def estate(db: None, tmp_path: Path) -> None:
    build_allocation_estate(tmp_path)


def rule(name: str, value: str = "", position: int = 100, **fields: Any) -> AllocationRule:
    row = AllocationRule(tag_key=KEY, name=name, value=value, position=position, **fields)
    do_save_allocation_rule(row, acting=Operator())
    return row


def shared(name: str, mode: str, **fields: Any) -> SharedCostRule:
    row = SharedCostRule(tag_key=KEY, name=name, mode=mode, **fields)
    do_save_shared_cost_rule(row, acting=Operator())
    return row


def row_of(showback: Showback, value: str) -> reads.ShowbackRow:
    return next(row for row in showback.rows if row.value == value)


def left(showback: Showback) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """What the rules leave: untagged, invalid, unattributable, unmatched, and the shared total."""
    allocated = showback.allocated
    assert allocated is not None
    return (
        allocated.untagged_spend,
        allocated.invalid_spend,
        allocated.unattributable_spend,
        allocated.unmatched_resource_spend,
        allocated.shared_spend,
    )


def adds_up_as_allocated(showback: Showback) -> bool:
    """total = sum(allocated) + sum(shared) + what the rules leave, exactly; and the shared
    total is the rows' shares."""
    untagged, invalid, unattributable, unmatched, shared_total = left(showback)
    shares = sum((row.shared_spend for row in showback.rows), ZERO)
    return shared_total == shares and showback.total_spend == (
        sum((row.allocated_spend for row in showback.rows), ZERO)
        + shares
        + untagged
        + invalid
        + unattributable
        + unmatched
    )


# --- as allocated, without and with rules -------------------------------------------------------


def test_without_rules_as_allocated_is_as_tagged(estate: None) -> None:
    showback = reads.spend_by_tag(Operator(), KEY)

    assert [(r.value, r.spend, r.allocated_spend, r.allocated_by) for r in showback.rows] == [
        ("cc-200", CC_200, CC_200, ()),
        ("cc-100", CC_100, CC_100, ()),
    ]
    assert showback.total_spend == TOTAL
    assert left(showback) == (UNTAGGED, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND, ZERO)
    assert showback.allocated is not None
    assert showback.allocated.rules_version is None
    assert adds_up_as_allocated(showback)


# Each rule kind alone: the value it gives, the spend it moves, its resources as allocated,
# and what it leaves (untagged, invalid, unattributable, unmatched).
Kind = tuple[dict[str, Any], str, Decimal, int, tuple[Decimal, Decimal, Decimal, Decimal]]
KINDS: dict[str, Kind] = {
    # B's charges without a valid value: the volume and B's tax.
    "account": (
        {"value": "cc-300", "accounts": [B]},
        "cc-300",
        Decimal("10.00"),
        1,
        (QUEUE_SPEND, BUCKET_SPEND, Decimal("4.19"), ZZZ_SPEND),
    ),
    "region": (
        {"value": "cc-300", "regions": ["eu-west-1"]},
        "cc-300",
        VOLUME_SPEND,
        1,
        (QUEUE_SPEND, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
    "service": (
        {"value": "cc-300", "services": ["Amazon SQS"]},
        "cc-300",
        QUEUE_SPEND,
        1,
        (VOLUME_SPEND, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
    "resource_type": (
        {"value": "cc-300", "resource_types": ["s3:bucket"]},
        "cc-300",
        BUCKET_SPEND,
        1,
        (UNTAGGED, ZERO, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
    "name_pattern": (
        {"value": "cc-300", "name_pattern": "jo?s"},
        "cc-300",
        QUEUE_SPEND,
        1,
        (VOLUME_SPEND, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
    # A charge naming a resource the inventory lacks is matched by its bill resource id.
    "arn_pattern": (
        {"value": "cc-300", "arn_pattern": "i-0zz*"},
        "cc-300",
        ZZZ_SPEND,
        0,
        (UNTAGGED, BUCKET_SPEND, UNATTRIBUTABLE, ZERO),
    ),
    # The queue shares i-0aaa's stack: it takes cc-100, joining its two instances.
    "stack": (
        {"related": "cloudformation_stack", "arn_pattern": "*"},
        "cc-100",
        QUEUE_SPEND,
        3,
        (VOLUME_SPEND, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
    # The volume takes its instance's value (i-0ccc: cc-200).
    "parent": (
        {"related": "parent", "resource_types": ["ec2:volume"]},
        "cc-200",
        VOLUME_SPEND,
        2,
        (QUEUE_SPEND, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND),
    ),
}
TAGGED = {"cc-100": CC_100, "cc-200": CC_200, "cc-300": ZERO}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_rule_gives_its_value(estate: None, kind: str) -> None:
    fields, value, moved, count, after = KINDS[kind]
    rule(f"by {kind}", **fields)

    showback = reads.spend_by_tag(Operator(), KEY)

    given = row_of(showback, value)
    assert (given.spend, given.allocated_spend) == (TAGGED[value], TAGGED[value] + moved)
    assert given.allocated_by == ((f"by {kind}", moved),)
    assert given.allocated_resource_count == count
    assert left(showback) == (*after, ZERO)
    assert showback.total_spend == TOTAL
    assert adds_up_as_allocated(showback)


def test_a_value_only_a_rule_gives_is_a_row_with_nothing_as_tagged(estate: None) -> None:
    rule("Queues", "cc-300", services=["Amazon SQS"])

    showback = reads.spend_by_tag(Operator(), KEY)

    assert [r.value for r in showback.rows] == ["cc-200", "cc-100", "cc-300"]
    assert (row_of(showback, "cc-300").spend, row_of(showback, "cc-300").resource_count) == (
        ZERO,
        0,
    )


def test_the_first_matching_rule_wins(estate: None) -> None:
    rule("Everything in us-east-1", "cc-200", position=20, regions=["us-east-1"])
    rule("Queues", "cc-300", position=10, services=["Amazon SQS"])

    showback = reads.spend_by_tag(Operator(), KEY)

    assert row_of(showback, "cc-300").allocated_by == (("Queues", QUEUE_SPEND),)
    # The bucket (invalid) and i-0zzz (unmatched): the queue went to the earlier rule.
    assert row_of(showback, "cc-200").allocated_by == (
        ("Everything in us-east-1", BUCKET_SPEND + ZZZ_SPEND),
    )
    assert left(showback) == (VOLUME_SPEND, ZERO, UNATTRIBUTABLE, ZERO, ZERO)
    assert adds_up_as_allocated(showback)


def test_a_disabled_rule_is_ignored(estate: None) -> None:
    rule("Off", "cc-300", arn_pattern="*", enabled=False)

    showback = reads.spend_by_tag(Operator(), KEY)

    assert [r.value for r in showback.rows] == ["cc-200", "cc-100"]
    assert left(showback) == (UNTAGGED, BUCKET_SPEND, UNATTRIBUTABLE, ZZZ_SPEND, ZERO)


def test_a_rule_never_changes_compliance(estate: None) -> None:
    def compliance() -> tuple[Any, ...]:
        summary = compliance_summary(Operator())
        return (
            list(Violation.objects.order_by("pk").values_list("pk", "resource__arn", "tag_name")),
            list(Resource.objects.order_by("arn").values_list("arn", "is_compliant")),
            summary.compliance_score,
            summary.compliant_resources,
        )

    before = compliance()
    rule("Everything", "cc-300", arn_pattern="*")
    shared("Tax", "even", charge_categories=["Tax"])
    showback = reads.spend_by_tag(Operator(), KEY)

    assert row_of(showback, "cc-300").allocated_spend > 0
    assert compliance() == before
    # As tagged nothing moved: the queue, the volume and the bucket still lack a valid value.
    assert (showback.untagged_spend, showback.invalid_spend) == (UNTAGGED, BUCKET_SPEND)
    assert reads.resources_with_tag_value(Operator(), KEY, None, bucket="untagged")[0].arn in {
        QUEUE,
        VOLUME,
    }


def test_the_resources_as_allocated_name_the_rule_that_gave_the_value(estate: None) -> None:
    rule("Same stack", related="cloudformation_stack", arn_pattern="*")

    found = reads.resources_with_tag_value(Operator(), KEY, "cc-100", allocated=True)

    assert [(r.arn, r.spend, r.rule) for r in found] == [
        (I_BBB, Decimal("19.000"), None),
        (I_AAA, Decimal("9.5712345"), None),
        (QUEUE, QUEUE_SPEND, "Same stack"),
    ]


# --- shared costs --------------------------------------------------------------------------------


@pytest.fixture
def three_values(estate: None) -> None:
    """cc-300 owns the queue, so three values have allocated spend: cc-100 28.5712345, cc-200
    80.00, cc-300 1.234."""
    rule("Queues", "cc-300", services=["Amazon SQS"])


def shares(showback: Showback) -> dict[str, Decimal]:
    return {row.value: row.shared_spend for row in showback.rows}


def test_shared_proportionally_to_allocated_spend(three_values: None) -> None:
    shared("Support", "proportional", services=[SUPPORT], charge_categories=["Usage"])

    showback = reads.spend_by_tag(Operator(), KEY)

    # 9.99 x 28.5712345 / 109.8052345 and 9.99 x 1.234 / 109.8052345 cut to 10 places; the
    # remainder of the cutting (1E-10) goes to the largest share, cc-200's.
    assert shares(showback) == {
        "cc-200": Decimal("7.2783415440"),
        "cc-100": Decimal("2.5993900377"),
        "cc-300": Decimal("0.1122684183"),
    }
    assert left(showback) == (
        VOLUME_SPEND,
        BUCKET_SPEND,
        Decimal("2.20"),
        ZZZ_SPEND,
        Decimal("9.99"),
    )
    # A column of its own: the allocated spend is unchanged by the split.
    assert row_of(showback, "cc-100").allocated_spend == CC_100
    assert adds_up_as_allocated(showback)


def test_shared_evenly_with_the_remainder_to_the_smallest_value(three_values: None) -> None:
    shared("Tax", "even", charge_categories=["Tax"])

    showback = reads.spend_by_tag(Operator(), KEY)

    # 12.20 / 3 = 4.0666666666 each and 2E-10 left, to the tie's smallest value.
    assert shares(showback) == {
        "cc-200": Decimal("4.0666666666"),
        "cc-100": Decimal("4.0666666668"),
        "cc-300": Decimal("4.0666666666"),
    }
    assert left(showback)[2:] == (Decimal("-0.01"), ZZZ_SPEND, Decimal("12.20"))
    assert adds_up_as_allocated(showback)


def test_shared_by_fixed_percentages(three_values: None) -> None:
    shared("Tax", "fixed", charge_categories=["Tax"], percentages={"cc-100": "60", "cc-200": "40"})

    showback = reads.spend_by_tag(Operator(), KEY)

    assert shares(showback) == {
        "cc-200": Decimal("4.88"),
        "cc-100": Decimal("7.32"),
        "cc-300": ZERO,
    }
    assert adds_up_as_allocated(showback)


def test_a_credit_is_shared_as_the_mirror_of_a_charge(three_values: None) -> None:
    shared("Credits", "even", charge_categories=["Credit"])

    showback = reads.spend_by_tag(Operator(), KEY)

    assert shares(showback) == {
        "cc-200": Decimal("-3.3333333333"),
        "cc-100": Decimal("-3.3333333334"),
        "cc-300": Decimal("-3.3333333333"),
    }
    assert left(showback)[2:] == (Decimal("22.19"), ZZZ_SPEND, Decimal("-10.00"))
    assert adds_up_as_allocated(showback)


def test_a_fixed_percentage_gives_a_value_that_owns_nothing_its_share(estate: None) -> None:
    shared("Tax", "fixed", charge_categories=["Tax"], percentages={"cc-300": "100"})
    shared("Support", "even", services=[SUPPORT])

    showback = reads.spend_by_tag(Operator(), KEY)

    # Support 9.99 and its credit -10.00 net -0.01, split evenly over the two values owning
    # spend; cc-300 owns none, and its fixed percentage still gives it the whole tax.
    assert shares(showback) == {
        "cc-200": Decimal("-0.005"),
        "cc-100": Decimal("-0.005"),
        "cc-300": Decimal("12.20"),
    }
    assert row_of(showback, "cc-300").allocated_spend == ZERO
    assert left(showback)[2:] == (ZERO, ZZZ_SPEND, UNATTRIBUTABLE)
    assert adds_up_as_allocated(showback)


def test_a_shared_charge_no_value_can_take_stays_unattributable(estate: None) -> None:
    shared("Support", "even", services=[SUPPORT])

    # Narrowed to the support charges, no value owns any spend to share them over.
    showback = reads.spend_by_tag(Operator(), KEY, services=[SUPPORT])

    assert showback.rows == []
    assert left(showback) == (ZERO, ZERO, Decimal("-0.01"), ZERO, ZERO)
    assert adds_up_as_allocated(showback)


# --- a rule's reach --------------------------------------------------------------------------


def test_the_reach_of_a_rule_alone(estate: None) -> None:
    preview = rule_of(AllocationRule(tag_key=KEY, name="All", value="cc-300", arn_pattern="*"))

    reach = rule_reach(Operator(), preview)

    # Every charge without a valid value: queue, bucket, i-0zzz, volume, both taxes, support
    # and its credit.
    assert (reach.charges, reach.resources, reach.spend, reach.taken_earlier_spend) == (
        8,
        3,
        Decimal("24.307"),
        ZERO,
    )
    assert reach.sample == [
        "(Amazon EC2, no resource)",
        "i-0zzz",
        BUCKET,
        VOLUME,
        QUEUE,
        "(AWS Support (Business), no resource)",
    ]


def test_the_reach_of_a_rule_placed_after_one_that_takes_part_of_it(estate: None) -> None:
    rule("us-east-1", "cc-200", position=10, regions=["us-east-1"])
    preview = rule_of(AllocationRule(tag_key=KEY, name="All", value="cc-300", arn_pattern="*"))

    after = rule_reach(Operator(), preview, position=20)
    before = rule_reach(Operator(), preview, position=5)

    # The earlier rule takes the queue, the bucket and i-0zzz (10.117).
    assert (after.charges, after.resources, after.spend, after.taken_earlier_spend) == (
        5,
        1,
        Decimal("14.19"),
        Decimal("10.117"),
    )
    assert after.sample == [
        "(Amazon EC2, no resource)",
        VOLUME,
        "(AWS Support (Business), no resource)",
    ]
    assert (before.charges, before.spend, before.taken_earlier_spend) == (
        8,
        Decimal("24.307"),
        ZERO,
    )


# --- the same question through every face ----------------------------------------------------

#: Every figure of the answer (``scan`` apart: its block says how fresh the scan is).
FIGURES = (
    "tag_key",
    "billing_period_start",
    "currency",
    "cost_source",
    "rows",
    "untagged_spend",
    "untagged_count",
    "invalid_spend",
    "invalid_count",
    "unattributable_spend",
    "unmatched_resource_spend",
    "total_spend",
    "as_allocated",
)


def figures(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: answer[name] for name in FIGURES}


@pytest.fixture
def served(transactional_db: None, tmp_path: Path, settings: Any) -> None:
    """The estate with rules of several kinds and a shared-cost rule, committed (the MCP
    application answers from another thread), and an OAuth client registered by an admin."""
    build_allocation_estate(tmp_path)
    rule("Queues", "cc-300", position=10, services=["Amazon SQS"])
    rule("Eu volumes", "cc-200", position=20, regions=["eu-west-1"])
    rule("Leftovers", "cc-300", position=30, arn_pattern="i-0zz*")
    shared("Tax evenly", "even", charge_categories=["Tax"])
    settings.IDP_OIDC_PRIVATE_KEY = SIGNING_KEY
    client = OAuthClient(id=CLIENT_ID, name="Test assistant", type=OAuthClient.Type.PUBLIC)
    client.set_scopes(["openid", "read", "scan"])
    client.set_redirect_uris([REDIRECT_URI])
    client.set_grant_types(["authorization_code", "refresh_token"])
    client.save()


def person(name: str, role: Role, *accounts: str) -> User:
    user = User.objects.create_user(name, f"{name}@example.com", f"{name}-password-123")
    assign_role(user, role)
    if role is Role.ADMIN:
        user.user_permissions.add(Permission.objects.get(codename="view_all_accounts"))
    for account_id in accounts:
        grant(user, AwsAccount.objects.get(account_id=account_id))
    return user


def through_the_key(user: User) -> dict[str, Any]:
    status, body, _ = post(tool_call("get_spend_by_tag", {"tag_key": KEY}), key=make_key(user))
    assert status == 200
    assert body["result"]["isError"] is False, body["result"]["content"]
    return dict(body["result"]["structuredContent"])


def through_a_token(user: User) -> dict[str, Any]:
    status, body, _ = oauth_call(
        tool_call("get_spend_by_tag", {"tag_key": KEY}), token=obtain_token(user)
    )
    assert status == 200
    assert body is not None
    assert body["result"]["isError"] is False, body["result"]["content"]
    return dict(body["result"]["structuredContent"])


def through_stdio(user: User) -> dict[str, Any]:
    server = build_server(local_caller=Caller.for_local_user(user))

    async def main() -> Any:
        async with Client(server) as client:
            return await client.call_tool("get_spend_by_tag", {"tag_key": KEY})

    result = anyio.run(main)
    assert not result.is_error
    return dict(result.structured_content)


def through_the_command(*accounts: str) -> dict[str, Any]:
    out = io.StringIO()
    narrowed = [option for account in accounts for option in ("--account", account)]
    call_command("showback", "--tag", KEY, *narrowed, stdout=out)
    return dict(json.loads(out.getvalue()))


#: Per role: the accounts granted, the command's narrowing that asks the same question, and the
#: values with their (spend, allocated_spend, shared_spend) to the cent.
ROLES = {
    "viewer": (
        Role.VIEWER,
        (A,),
        # cc-300 holds the queue and i-0zzz; A's tax 4.20 is shared over cc-100 and cc-300.
        # B's charges (i-0ccc, the volume, B's tax) are not the viewer's.
        {
            "cc-100": ("28.57", "28.57", "2.10"),
            "cc-300": ("0.00", "6.78", "2.10"),
        },
        "42.88",
    ),
    "analyst": (
        Role.ANALYST,
        (A, B),
        {
            "cc-200": ("80.00", "82.00", "4.07"),
            "cc-100": ("28.57", "28.57", "4.07"),
            "cc-300": ("0.00", "6.78", "4.07"),
        },
        "132.88",
    ),
    "admin": (
        Role.ADMIN,
        (),
        {
            "cc-200": ("80.00", "82.00", "4.07"),
            "cc-100": ("28.57", "28.57", "4.07"),
            "cc-300": ("0.00", "6.78", "4.07"),
        },
        "132.88",
    ),
}


@pytest.mark.parametrize("role_name", list(ROLES))
def test_every_face_gives_the_same_numbers(served: None, role_name: str) -> None:
    role, accounts, values, total = ROLES[role_name]
    user = person(role_name, role, *accounts)
    answer = reads.spend_by_tag(user, KEY)
    expected = figures(showback_fields(answer))

    assert [
        (row["value"], (row["spend"], row["allocated_spend"], row["shared_spend"]))
        for row in expected["rows"]
    ] == list(values.items())
    assert expected["total_spend"] == total
    assert adds_up_as_allocated(answer)
    assert figures(through_the_command(*accounts)) == expected
    assert figures(through_the_key(user)) == expected
    assert figures(through_a_token(user)) == expected
    assert figures(through_stdio(user)) == expected


# --- the page and its CSV ----------------------------------------------------------------------


@pytest.fixture
def ruled(estate: None) -> None:
    rule("Queues <b>", "cc-300", position=10, services=["Amazon SQS"])
    rule("Eu volumes", "cc-200", position=20, regions=["eu-west-1"])
    shared("Tax evenly", "even", charge_categories=["Tax"])


#: Per role: accounts granted, then the table's value rows as [value, spend, as allocated,
#: shared costs, rules], and its total row as [total, as allocated, shared costs].
PAGES = {
    Role.VIEWER: (
        (A,),
        [
            ["cc-100", "$28.57", "$28.57", "$2.10", "none"],
            ["cc-300", "$0.00", "$1.23", "$2.10", "Queues <b>: $1.23"],
        ],
        ["$42.88", "$38.68", "$4.20"],
    ),
    Role.ANALYST: (
        (A, B),
        [
            ["cc-200", "$80.00", "$82.00", "$4.07", "Eu volumes: $2.00"],
            ["cc-100", "$28.57", "$28.57", "$4.07", "none"],
            ["cc-300", "$0.00", "$1.23", "$4.07", "Queues <b>: $1.23"],
        ],
        ["$132.88", "$120.68", "$12.20"],
    ),
}
PAGES[Role.ADMIN] = ((A, B), *PAGES[Role.ANALYST][1:])


@pytest.mark.parametrize("role", list(PAGES))
def test_the_page_shows_as_allocated_shared_and_rules(ruled: None, alice: User, role: Role) -> None:
    accounts, values, total = PAGES[role]
    html = page(signed_in(alice, role, *accounts), tag_key=KEY)

    rows = table(html, "values")
    assert [[row[0], row[1], *row[4:7]] for row in rows[: len(values)]] == values
    assert [rows[-1][1], *rows[-1][4:6]] == total
    assert "rules v3, 2 rules, 1 shared-cost rule" in html
    assert "Queues &lt;b&gt;" in html
    assert "Queues <b>" not in html


def test_a_viewer_sees_only_its_accounts_figures(ruled: None, alice: User) -> None:
    html = page(signed_in(alice, Role.VIEWER, A), tag_key=KEY)

    for secret in ("cc-200", "Eu volumes", "$80.00", "$82.00", "$132.88", "$12.20"):
        assert secret not in html


def test_the_buckets_show_what_the_rules_leave(ruled: None, charlie: User) -> None:
    rows = table(page(signed_in(charlie, Role.ADMIN), tag_key=KEY), "values")

    buckets = {row[0].split(" ")[0]: (row[1], row[4]) for row in rows}
    assert buckets["Untagged"] == ("$3.23", "$0.00")
    assert buckets["Invalid"] == ("$3.33", "$3.33")
    # 12.19 less the tax the shared-cost rule splits.
    assert buckets["Unattributable"] == ("$12.19", "-$0.01")
    assert buckets["Unmatched"] == ("$5.55", "$5.55")


def test_without_rules_the_page_says_as_allocated_is_as_tagged(estate: None, charlie: User) -> None:
    html = page(signed_in(charlie, Role.ADMIN), tag_key=KEY)

    assert "No allocation rule is written: as allocated is as tagged." in html
    assert "rules v" not in html


def test_the_drill_down_as_allocated_names_the_rule(ruled: None, charlie: User) -> None:
    html = page(signed_in(charlie, Role.ADMIN), tag_key=KEY, value="cc-200", view="allocated")

    rows = table(html, "drill-resources")
    assert [row[1:] for row in rows] == [["own tag", "$80.00"], ["Eu volumes", "$2.00"]]
    assert [I_CCC in rows[0][0], VOLUME in rows[1][0]] == [True, True]
    assert table(html, "by-rule") == [
        ["The resources' own tag", "$80.00"],
        ["Eu volumes", "$2.00"],
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"value": "cc-100", "view": "tagged"},
            "view: &#x27;tagged&#x27; is not a view; use allocated",
        ),
        ({"bucket": "untagged", "view": "allocated"}, "view: allocated is a view of one value"),
    ],
)
def test_a_bad_view_is_a_clear_400(
    ruled: None, charlie: User, params: dict[str, str], message: str
) -> None:
    response = signed_in(charlie, Role.ADMIN).get("/allocation/", {"tag_key": KEY, **params})

    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_csv_carries_the_allocated_figures_and_is_audited(ruled: None) -> None:
    dave = User.objects.create_user("dave", "dave@example.com", "dave-password-123")

    lines = csv_lines(signed_in(dave, Role.ANALYST, A, B), tag_key=KEY)

    assert [
        (
            line["kind"],
            line["value"],
            line["spend"],
            line["allocated_spend"],
            line["shared_spend"],
            line["allocated_resource_count"],
        )
        for line in lines
    ] == [
        ("value", "cc-200", "80.00", "82.00", "4.07", "2"),
        ("value", "cc-100", "28.57", "28.57", "4.07", "2"),
        ("value", "cc-300", "0.00", "1.23", "4.07", "1"),
        ("value", "bogus", "3.33", "", "", ""),
        ("untagged", "", "3.23", "", "", ""),
        ("invalid", "", "3.33", "", "", ""),
        ("unattributable", "", "12.19", "", "", ""),
        ("unmatched", "", "5.55", "", "", ""),
        ("total", "", "132.88", "120.68", "12.20", ""),
        ("allocated_untagged", "", "", "0.00", "", ""),
        ("allocated_invalid", "", "", "3.33", "", ""),
        ("allocated_unattributable", "", "", "-0.01", "", ""),
        ("allocated_unmatched", "", "", "5.55", "", ""),
    ]
    (event,) = AuditEvent.objects.filter(event_type=EventType.SHOWBACK_EXPORTED)
    assert (event.actor_id, event.outcome, event.interface, event.target) == (
        dave.pk,
        "success",
        "web",
        KEY,
    )


# --- the command's CSV and Markdown ------------------------------------------------------------


def command_output(*args: str) -> str:
    out = io.StringIO()
    call_command("showback", "--tag", KEY, *args, stdout=out)
    return out.getvalue()


COMMAND_CSV = (
    "field",
    "value",
    "spend",
    "allocated_spend",
    "allocated_resource_count",
    "shared_spend",
)


def test_the_command_csv_gives_the_allocated_figures(ruled: None) -> None:
    lines = list(csv.DictReader(io.StringIO(command_output("--format", "csv"))))

    assert [tuple(line[name] for name in COMMAND_CSV) for line in lines] == [
        ("rows", "cc-200", "80.00", "82.00", "2", "4.07"),
        ("rows", "cc-100", "28.57", "28.57", "2", "4.07"),
        ("rows", "cc-300", "0.00", "1.23", "1", "4.07"),
        ("untagged_spend", "", "3.23", "", "", ""),
        ("invalid_spend", "", "3.33", "", "", ""),
        ("unattributable_spend", "", "12.19", "", "", ""),
        ("unmatched_resource_spend", "", "5.55", "", "", ""),
        ("total_spend", "", "132.88", "", "", ""),
        ("as_allocated.untagged_spend", "", "0.00", "", "", ""),
        ("as_allocated.invalid_spend", "", "3.33", "", "", ""),
        ("as_allocated.unattributable_spend", "", "-0.01", "", "", ""),
        ("as_allocated.unmatched_resource_spend", "", "5.55", "", "", ""),
        ("as_allocated.shared_spend", "", "12.20", "", "", ""),
    ]


def test_the_command_markdown_gives_the_allocated_figures_escaped(ruled: None) -> None:
    text = command_output("--format", "markdown")

    assert "| Value | Spend | Resources | Valid | As allocated | Shared | Rules |" in text
    assert "| cc-200 | 80.00 | 1 | yes | 82.00 | 4.07 | Eu volumes: 2.00 |" in text
    assert "| cc-300 | 0.00 | 0 | yes | 1.23 | 4.07 | Queues &lt;b&gt;: 1.23 |" in text
    assert "## After allocation rules" in text
    assert "Rules v3: 2 allocation rule(s), 1 shared-cost rule(s) for this key." in text
    assert "| Unattributable (no shared-cost rule splits it) | -0.01 |" in text
    assert "| Shared costs (split over the values) | 12.20 |" in text


def test_the_tool_describes_the_allocated_fields() -> None:
    (spec,) = [spec for spec in COST_TOOLS if spec.name == "get_spend_by_tag"]

    for field in (
        "allocated_spend",
        "allocated_by",
        "shared_spend",
        "as_allocated",
        "rules_version",
    ):
        assert field in spec.description
    assert "Rules change no compliance" in spec.description
