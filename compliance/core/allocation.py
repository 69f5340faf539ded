"""Allocation: the tag value a rule gives a charge that lacks a valid one, and the split of a
shared charge over the values of a key.

Pure functions over plain values (no ORM), so that every allocated figure can be checked by
hand. Both are showback's, never compliance's: a value given by a rule changes no violation.

**Allocation rules.** For one tag key, the rules are tried in the order given (position, then
id); the first that :func:`matches` a charge *and* yields a value gives it (:func:`allocate`).
A rule yields its fixed value, or for a related rule the value its related resource carries as
tagged: the other resources of the same CloudFormation stack (:func:`stack_values`) or the
parent resource (a volume's instance, an ECS service's cluster). Related values are read as
tagged, never as allocated, so one rule never feeds another (no chains, no cycles).

Patterns are globs with ``*`` (any run of characters, none included) and ``?`` (exactly one
character), case-sensitive and matched against the whole text; every other character, ``[``
included, stands for itself. They are matched in time proportional to the pattern's length
times the text's, whatever the pattern (:func:`glob_match`), so no pattern can stall a read.

**Shared costs.** A charge that names no resource (support, tax, fees, marketplace) is split
by the first shared-cost rule that matches its service and charge category (:func:`split`):
proportionally to each value's allocated spend, evenly over the values with allocated spend,
or by fixed percentages. Every share is exact to ``SHARE_PLACES`` (the stored money precision)
and the shares add up to the amount exactly, by this **remainder rule**:

    each share is the exact proportion of the amount, cut toward zero to ``SHARE_PLACES``;
    what the cutting leaves (less than one ``SHARE_PLACES`` per value) goes to the value with
    the largest share in absolute value, ties to the smallest value (as strings compare).

Cutting toward zero makes a credit (a negative amount) split as the mirror of the same charge,
so a charge and its refund cancel value by value. When no value can take a share (no value
with positive allocated spend for the proportional and even modes, no percentage for the fixed
one), :func:`split` returns nothing and the charge stays unattributable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

#: ``Rule.related``: where a related rule takes its value from.
RELATED_STACK = "cloudformation_stack"
RELATED_PARENT = "parent"

#: The tag AWS CloudFormation puts on the resources of a stack. The stack id is an ARN, unique
#: across accounts, regions and time; the stack *name* (``aws:cloudformation:stack-name``) is
#: reused by a stack created again, or in another account or region, so it is not an identity.
STACK_TAG = "aws:cloudformation:stack-id"

PROPORTIONAL, EVEN, FIXED = "proportional", "even", "fixed"
SHARED_MODES = (PROPORTIONAL, EVEN, FIXED)
#: The stored money precision (``MONEY_PLACES``): every share is a whole number of these.
SHARE_PLACES = Decimal("1E-10")
_UNITS_PER_ONE = 10**10


@dataclass(frozen=True, slots=True)
class Rule:
    """An allocation rule: every matcher set must hold (an empty one matches anything)."""

    id: int
    name: str
    tag_key: str
    #: The value given; "" when ``related`` gives the value.
    value: str
    accounts: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    resource_types: frozenset[str] = frozenset()
    name_pattern: str = ""
    arn_pattern: str = ""
    #: "", ``RELATED_STACK`` or ``RELATED_PARENT``.
    related: str = ""


@dataclass(frozen=True, slots=True)
class Subject:
    """One charge lacking a valid value, and its resource when the inventory holds it."""

    account_id: str
    region: str
    service: str
    #: As the bill names it ("" for a charge naming no resource).
    resource_id: str
    #: The inventory resource matched, if any.
    arn: str | None = None
    resource_type: str | None = None
    name: str = ""
    #: The resource's CloudFormation stack (:func:`stack_of`).
    stack: str | None = None
    #: ``Resource.attributes["parent_arn"]``: a volume's instance, an ECS service's cluster.
    parent_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Related:
    """Valid values of the key reachable through relations (as tagged, never as allocated:
    no chains)."""

    #: Stack -> the value its resources carry (:func:`stack_values`).
    by_stack: Mapping[str, str]
    #: ARN -> the resource's valid value of the key.
    by_arn: Mapping[str, str]


NO_RELATED = Related(by_stack={}, by_arn={})


def stack_of(tags: Mapping[str, str]) -> str | None:
    """The CloudFormation stack of a resource, by its tags (``None``: not a stack's)."""
    stack = tags.get(STACK_TAG, "").strip()
    return stack or None


def stack_values(members: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(stack, valid value) pairs of the resources carrying a valid value -> the value of each
    stack: the value carried by the most of its resources, ties to the smallest value (as
    strings compare), so a stack whose resources disagree still gets one stable value."""
    counts = Counter(members)
    best: dict[str, tuple[int, str]] = {}
    for (stack, value), count in counts.items():
        held = best.get(stack)
        if held is None or (-count, value) < (-held[0], held[1]):
            best[stack] = (count, value)
    return {stack: value for stack, (_, value) in best.items()}


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern`` in full: ``*`` any run, ``?`` one character,
    everything else literally.

    The greedy two-pointer walk: on a mismatch after a ``*``, that ``*`` takes one character
    more and the walk resumes there. Only the last ``*`` is ever revisited, so the time is at
    most the pattern's length times the text's (a regular expression engine may backtrack
    exponentially on a pattern such as ``*a*a*a*b``).
    """
    p = t = 0
    star = -1  # the position in the pattern after the last '*' seen
    resume = 0  # where in the text that '*' stopped taking characters
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p + 1, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star, resume
        else:
            return False
    return all(character == "*" for character in pattern[p:])


def matches(rule: Rule, subject: Subject) -> bool:
    """Every matcher set holds. ``resource_types`` and ``name_pattern`` need the inventory
    resource (a charge with none does not match them); ``arn_pattern`` matches the subject's
    ARN, else its bill resource id; ``services`` match the charge's service."""
    if rule.accounts and subject.account_id not in rule.accounts:
        return False
    if rule.regions and subject.region not in rule.regions:
        return False
    if rule.services and subject.service not in rule.services:
        return False
    if rule.resource_types and (
        subject.arn is None or subject.resource_type not in rule.resource_types
    ):
        return False
    if rule.name_pattern and (
        subject.arn is None or not glob_match(rule.name_pattern, subject.name)
    ):
        return False
    target = subject.arn if subject.arn is not None else subject.resource_id
    return not rule.arn_pattern or glob_match(rule.arn_pattern, target)


def _related_value(rule: Rule, subject: Subject, related: Related) -> str | None:
    if rule.related == RELATED_STACK:
        return related.by_stack.get(subject.stack) if subject.stack else None
    if rule.related == RELATED_PARENT:
        return related.by_arn.get(subject.parent_arn) if subject.parent_arn else None
    return rule.value


def allocate(rules: Sequence[Rule], subject: Subject, related: Related) -> tuple[Rule, str] | None:
    """The first rule (in the given order) that matches and yields a value: its fixed value,
    or for a related rule the related resource's value (a related rule whose relation gives
    no value does not match, and the next rule is tried)."""
    for rule in rules:
        if not matches(rule, subject):
            continue
        value = _related_value(rule, subject, related)
        if value:
            return rule, value
    return None


# --- shared costs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedRule:
    """A shared-cost rule: the charges it splits (empty matchers: any) and how."""

    id: int
    name: str
    tag_key: str
    mode: str
    services: frozenset[str] = frozenset()
    charge_categories: frozenset[str] = frozenset()
    #: FIXED only: value -> percentage; they add up to 100.
    percentages: Mapping[str, Decimal] = field(default_factory=dict)


def shared_rule_for(
    rules: Sequence[SharedRule], service: str, charge_category: str
) -> SharedRule | None:
    """The first rule (in the given order) whose services and charge categories hold."""
    for rule in rules:
        if rule.services and service not in rule.services:
            continue
        if rule.charge_categories and charge_category not in rule.charge_categories:
            continue
        return rule
    return None


def _weights(rule: SharedRule, allocated: Mapping[str, Decimal]) -> dict[str, Decimal]:
    if rule.mode == PROPORTIONAL:
        return {value: spend for value, spend in allocated.items() if spend > 0}
    if rule.mode == EVEN:
        return {value: Decimal(1) for value, spend in allocated.items() if spend > 0}
    if rule.mode == FIXED:
        return {value: share for value, share in rule.percentages.items() if share > 0}
    raise ValueError(f"unknown shared-cost mode {rule.mode!r}; one of {', '.join(SHARED_MODES)}")


def split(
    amount: Decimal, rule: SharedRule, allocated: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """``amount`` split over values by ``rule`` (see the module docstring for the modes and
    the remainder rule): the shares add up to ``amount`` exactly, credits included. Empty
    when no value can take a share: the caller keeps the charge unattributable."""
    weights = _weights(rule, allocated)
    if not weights:
        return {}
    total = sum(weights.values(), Decimal(0))
    exact = Fraction(amount)
    shares = {
        # int() of a Fraction cuts toward zero, for credits as for charges.
        value: Decimal(int(exact * Fraction(weight) / Fraction(total) * _UNITS_PER_ONE))
        * SHARE_PLACES
        for value, weight in weights.items()
    }
    remainder = amount - sum(shares.values(), Decimal(0))
    if remainder:
        taker = min(shares, key=lambda value: (-abs(shares[value]), value))
        shares[taker] += remainder
    return shares
