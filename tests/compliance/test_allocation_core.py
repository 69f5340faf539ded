"""The allocation core: each matcher, first match wins, related values as tagged (no chains),
globs without regular-expression pitfalls, and shared costs split exactly to 1E-10 by the
documented remainder rule, credits included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compliance.core.allocation import (
    EVEN,
    FIXED,
    NO_RELATED,
    PROPORTIONAL,
    SHARE_PLACES,
    STACK_TAG,
    Related,
    Rule,
    SharedRule,
    Subject,
    allocate,
    glob_match,
    matches,
    shared_rule_for,
    split,
    stack_of,
    stack_values,
)

ACCOUNT = "123456789012"
VOLUME = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-0abc"
INSTANCE = f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/i-0abc"
STACK = f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/web/5f2c1e00-aaaa-bbbb-cccc-0123456789ab"


def rule(rule_id: int = 1, value: str = "platform", **matchers: object) -> Rule:
    return Rule(id=rule_id, name=f"rule {rule_id}", tag_key="Team", value=value, **matchers)  # type: ignore[arg-type]


def volume(**fields: object) -> Subject:
    base: dict[str, object] = {
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "service": "AmazonEC2",
        "resource_id": "vol-0abc",
        "arn": VOLUME,
        "resource_type": "ec2:volume",
        "name": "web-data",
        "stack": STACK,
        "parent_arn": INSTANCE,
    }
    return Subject(**{**base, **fields})  # type: ignore[arg-type]


#: A charge naming no resource (support, tax).
SUPPORT = Subject(account_id=ACCOUNT, region="", service="AWSSupportBusiness", resource_id="")
#: A charge on a resource the inventory does not hold.
UNMATCHED = Subject(
    account_id=ACCOUNT, region="us-east-1", service="AmazonS3", resource_id="old-bucket"
)


# --- matchers -------------------------------------------------------------------------------


def test_a_rule_without_matchers_matches_every_charge() -> None:
    assert [matches(rule(), s) for s in (volume(), SUPPORT, UNMATCHED)] == [True, True, True]


def test_accounts_match_the_charge_account() -> None:
    assert matches(rule(accounts=frozenset({ACCOUNT, "210987654321"})), volume())
    assert not matches(rule(accounts=frozenset({"210987654321"})), volume())


def test_regions_match_the_charge_region() -> None:
    assert matches(rule(regions=frozenset({"eu-west-1"})), volume())
    assert not matches(rule(regions=frozenset({"us-east-1"})), volume())
    assert not matches(rule(regions=frozenset({"eu-west-1"})), SUPPORT)


def test_services_match_the_charge_service() -> None:
    assert matches(rule(services=frozenset({"AmazonEC2"})), volume())
    assert not matches(rule(services=frozenset({"AmazonS3"})), volume())
    assert matches(rule(services=frozenset({"AmazonS3"})), UNMATCHED)


def test_resource_types_need_the_inventory_resource() -> None:
    assert matches(rule(resource_types=frozenset({"ec2:volume"})), volume())
    assert not matches(rule(resource_types=frozenset({"ec2:instance"})), volume())
    assert not matches(rule(resource_types=frozenset({"s3:bucket"})), UNMATCHED)


def test_name_pattern_needs_the_inventory_resource() -> None:
    assert matches(rule(name_pattern="web-*"), volume())
    assert not matches(rule(name_pattern="api-*"), volume())
    assert not matches(rule(name_pattern="*"), UNMATCHED)
    assert not matches(rule(name_pattern="*"), SUPPORT)


def test_arn_pattern_matches_the_arn_else_the_bill_resource_id() -> None:
    assert matches(rule(arn_pattern="arn:aws:ec2:*:volume/*"), volume())
    # The bill's bare id is not what is matched when the inventory resource is known.
    assert not matches(rule(arn_pattern="vol-*"), volume())
    assert matches(rule(arn_pattern="old-*"), UNMATCHED)
    assert matches(rule(arn_pattern="*"), SUPPORT)
    assert not matches(rule(arn_pattern="?*"), SUPPORT)


def test_every_matcher_set_must_hold() -> None:
    both = rule(services=frozenset({"AmazonEC2"}), regions=frozenset({"us-east-1"}))
    assert not matches(both, volume())
    assert matches(both, volume(region="us-east-1"))


# --- globs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("web-*", "web-", True),
        ("web-?", "web-", False),
        ("web-?", "web-1", True),
        ("*-data", "web-data", True),
        ("*-data", "web-data-2", False),
        ("web", "web-data", False),  # in full, not a search
        ("Web-*", "web-data", False),  # case-sensitive
        ("[ab]*", "a-1", False),  # '[' is literal
        ("[ab]*", "[ab]-1", True),
        ("a.c", "abc", False),  # '.' is literal
        ("a+", "aa", False),
        ("(x|y)", "(x|y)", True),
        ("\\d", "\\d", True),
        ("*a*b*c", "xaybzc", True),
        ("*a*b*c", "xaybzcq", False),
        ("**", "", True),
        ("", "", True),
        ("", "x", False),
        ("?", "é", True),
    ],
)
def test_glob(pattern: str, text: str, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


def test_a_pathological_glob_answers_at_once() -> None:
    """``(a*)*b``-like patterns make a backtracking engine exponential; this one is not."""
    assert glob_match("*a" * 40 + "*b", "a" * 5000) is False
    assert glob_match("*a" * 40 + "*b", "a" * 5000 + "b") is True


# --- first match wins -----------------------------------------------------------------------


def test_the_first_rule_in_the_given_order_wins() -> None:
    first = rule(1, "storage", resource_types=frozenset({"ec2:volume"}))
    second = rule(2, "platform")
    assert allocate([first, second], volume(), NO_RELATED) == (first, "storage")
    assert allocate([second, first], volume(), NO_RELATED) == (second, "platform")


def test_a_rule_that_does_not_match_lets_the_next_one_try() -> None:
    first = rule(1, "data", services=frozenset({"AmazonS3"}))
    second = rule(2, "platform")
    assert allocate([first, second], volume(), NO_RELATED) == (second, "platform")


def test_no_rule_matching_gives_no_value() -> None:
    assert allocate([rule(services=frozenset({"AmazonS3"}))], volume(), NO_RELATED) is None
    assert allocate([], volume(), NO_RELATED) is None


# --- related resources ----------------------------------------------------------------------


def test_a_stack_rule_gives_the_value_of_the_stack() -> None:
    by_stack = rule(1, "", related="cloudformation_stack")
    related = Related(by_stack={STACK: "web-team"}, by_arn={})
    assert allocate([by_stack], volume(), related) == (by_stack, "web-team")


def test_a_parent_rule_gives_the_value_of_the_parent() -> None:
    parent = rule(1, "", related="parent")
    related = Related(by_stack={}, by_arn={INSTANCE: "compute-team"})
    assert allocate([parent], volume(), related) == (parent, "compute-team")


def test_a_related_rule_without_a_value_lets_the_next_rule_try() -> None:
    parent = rule(1, "", related="parent")
    by_stack = rule(2, "", related="cloudformation_stack")
    fallback = rule(3, "platform")
    related = Related(by_stack={"other-stack": "x"}, by_arn={"arn:other": "y"})
    assert allocate([parent, by_stack, fallback], volume(), related) == (fallback, "platform")
    # A resource with no stack and no parent: no relation at all.
    lone = volume(stack=None, parent_arn=None)
    full = Related(by_stack={STACK: "web-team"}, by_arn={INSTANCE: "compute-team"})
    assert allocate([parent, by_stack, fallback], lone, full) == (fallback, "platform")
    assert allocate([parent, by_stack], lone, full) is None


def test_related_values_are_as_tagged_so_rules_never_chain() -> None:
    """The instance itself gets its value from a rule; its volume's parent rule does not see
    it: only the values resources carry reach ``Related``."""
    instance = volume(
        arn=INSTANCE, resource_type="ec2:instance", resource_id="i-0abc", parent_arn=None
    )
    instance_rule = rule(1, "compute-team", resource_types=frozenset({"ec2:instance"}))
    parent = rule(2, "", related="parent")
    rules = [instance_rule, parent]
    assert allocate(rules, instance, NO_RELATED) == (instance_rule, "compute-team")
    assert allocate(rules, volume(), NO_RELATED) is None


def test_stack_of_reads_the_stack_id_tag() -> None:
    assert stack_of({STACK_TAG: STACK, "aws:cloudformation:stack-name": "web"}) == STACK
    assert stack_of({"aws:cloudformation:stack-name": "web"}) is None
    assert stack_of({STACK_TAG: " "}) is None
    assert STACK_TAG == "aws:cloudformation:stack-id"


def test_a_stack_takes_the_value_most_of_its_resources_carry_ties_to_the_smallest() -> None:
    members = [
        ("s1", "blue"),
        ("s1", "red"),
        ("s1", "red"),
        ("s2", "red"),
        ("s2", "blue"),
        ("s3", "green"),
    ]
    assert stack_values(members) == {"s1": "red", "s2": "blue", "s3": "green"}
    assert stack_values([]) == {}


# --- shared costs: which rule ---------------------------------------------------------------


def shared(rule_id: int = 1, mode: str = PROPORTIONAL, **fields: object) -> SharedRule:
    return SharedRule(id=rule_id, name=f"shared {rule_id}", tag_key="Team", mode=mode, **fields)  # type: ignore[arg-type]


def test_the_first_shared_rule_that_matches_splits() -> None:
    tax = shared(1, charge_categories=frozenset({"Tax"}))
    support = shared(2, services=frozenset({"AWSSupportBusiness"}))
    anything = shared(3)
    rules = [tax, support, anything]
    assert shared_rule_for(rules, "AWSSupportBusiness", "Tax") is tax
    assert shared_rule_for(rules, "AWSSupportBusiness", "Usage") is support
    assert shared_rule_for(rules, "AmazonEC2", "Usage") is anything
    assert shared_rule_for([tax, support], "AmazonEC2", "Usage") is None


# --- shared costs: the split ----------------------------------------------------------------

SPEND = {"red": Decimal("300"), "blue": Decimal("100"), "idle": Decimal("0"), "neg": Decimal("-5")}


def test_proportional_splits_by_allocated_spend() -> None:
    assert split(Decimal("40"), shared(), SPEND) == {"red": Decimal("30"), "blue": Decimal("10")}


def test_proportional_remainder_goes_to_the_largest_share() -> None:
    spend = {"a": Decimal("1"), "b": Decimal("1"), "c": Decimal("1")}
    shares = split(Decimal("100"), shared(), spend)
    assert shares == {
        "a": Decimal("33.3333333334"),
        "b": Decimal("33.3333333333"),
        "c": Decimal("33.3333333333"),
    }
    assert sum(shares.values()) == Decimal("100")


def test_the_remainder_goes_to_the_largest_share_not_the_smallest_value() -> None:
    spend = {"a": Decimal("1"), "b": Decimal("2")}
    # 1/3 and 2/3 of 1: 0.3333333333 and 0.6666666666, 1E-10 left over, to b (the larger).
    assert split(Decimal("1"), shared(), spend) == {
        "a": Decimal("0.3333333333"),
        "b": Decimal("0.6666666667"),
    }


def test_even_splits_over_values_with_positive_spend() -> None:
    assert split(Decimal("10"), shared(mode=EVEN), SPEND) == {
        "blue": Decimal("5"),
        "red": Decimal("5"),
    }
    shares = split(
        Decimal("0.0000000002"),
        shared(mode=EVEN),
        {"x": Decimal(1), "y": Decimal(1), "z": Decimal(1)},
    )
    assert shares == {"x": Decimal("0.0000000002"), "y": Decimal(0), "z": Decimal(0)}


def test_fixed_splits_by_percentages_whatever_the_spend() -> None:
    rule_ = shared(mode=FIXED, percentages={"red": Decimal("12.5"), "green": Decimal("87.5")})
    assert split(Decimal("80"), rule_, {}) == {"red": Decimal("10"), "green": Decimal("70")}
    thirds = shared(
        mode=FIXED,
        percentages={"a": Decimal("33.3333"), "b": Decimal("33.3333"), "c": Decimal("33.3334")},
    )
    assert split(Decimal("0.01"), thirds, {}) == {
        "a": Decimal("0.0033333300"),
        "b": Decimal("0.0033333300"),
        "c": Decimal("0.0033333400"),
    }


def test_a_credit_splits_as_the_mirror_of_the_charge() -> None:
    spend = {"a": Decimal("1"), "b": Decimal("1"), "c": Decimal("1")}
    charge = split(Decimal("100"), shared(), spend)
    credit = split(Decimal("-100"), shared(), spend)
    assert credit == {value: -share for value, share in charge.items()}
    assert credit["a"] == Decimal("-33.3333333334")
    assert sum(credit.values()) == Decimal("-100")


def test_nothing_takes_the_amount_when_no_value_has_spend() -> None:
    idle = {"idle": Decimal("0"), "neg": Decimal("-3")}
    assert split(Decimal("10"), shared(), idle) == {}
    assert split(Decimal("10"), shared(mode=EVEN), {}) == {}
    assert split(Decimal("10"), shared(mode=FIXED), {"red": Decimal(5)}) == {}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shared-cost mode 'weird'"):
        split(Decimal("1"), shared(mode="weird"), {"a": Decimal(1)})


money = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=10, allow_nan=False
)
spends = st.dictionaries(
    st.text(min_size=1, max_size=4),
    st.decimals(min_value=Decimal("-10"), max_value=Decimal("100000"), places=10),
    max_size=8,
)
percentages = st.dictionaries(
    st.text(min_size=1, max_size=4),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100"), places=4),
    min_size=1,
    max_size=6,
)


@given(amount=money, allocated=spends, mode=st.sampled_from([PROPORTIONAL, EVEN]))
def test_shares_add_up_to_the_amount_exactly(
    amount: Decimal, allocated: dict[str, Decimal], mode: str
) -> None:
    shares = split(amount, shared(mode=mode), allocated)
    takers = {value for value, spend in allocated.items() if spend > 0}
    assert set(shares) == takers
    if takers:
        assert sum(shares.values(), Decimal(0)) == amount
        assert all(share == share.quantize(SHARE_PLACES) for share in shares.values())
        # Every share has the amount's sign (or is zero): a charge never credits a value.
        assert all(share * amount >= 0 for share in shares.values())


@given(amount=money, weights=percentages)
def test_fixed_shares_add_up_to_the_amount_exactly(
    amount: Decimal, weights: dict[str, Decimal]
) -> None:
    shares = split(amount, shared(mode=FIXED, percentages=weights), {})
    assert set(shares) == set(weights)
    assert sum(shares.values(), Decimal(0)) == amount
