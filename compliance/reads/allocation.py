"""Allocation and shared-cost rules: as the core applies them, and what is wrong with one.

Rules hold no account data and every role views them, so these reads take no viewer; the
figures they feed (``compliance.reads.showback``) filter the charges by the caller. A rule
is checked here (:func:`rule_problems`, :func:`shared_rule_problems`) before any write saves
it, so the admin form and the writes refuse the same things in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from compliance.aws import RESOURCE_TYPES
from compliance.core import allocation
from compliance.core.policy import TagRule
from compliance.core.untrusted import has_hidden_characters
from compliance.models import AllocationRule, AllocationVersion, SharedCostRule
from compliance.models.allocation import TAG_KEY_LENGTH, TAG_VALUE_LENGTH
from compliance.reads.policy import active_rule_for

ACCOUNT_ID = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
#: The charge categories of CUR and FOCUS (``ChargeCategory``) a shared-cost rule can name.
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
#: A fixed percentage is exact to this many decimal places.
PERCENTAGE_PLACES = 4
HUNDRED = Decimal(100)
MATCHER_FIELDS = (
    "accounts",
    "regions",
    "services",
    "resource_types",
    "name_pattern",
    "arn_pattern",
)
EMPTY_RULE = "set at least one matcher, or arn_pattern '*' to match every charge"

Problems = dict[str, str]


# --- the rules as the core applies them -------------------------------------------------------


def allocation_rules(tag_key: str) -> list[allocation.Rule]:
    """The enabled rules of ``tag_key``, in the order they are tried (position, then id)."""
    rows = AllocationRule.objects.filter(tag_key=tag_key, enabled=True).order_by("position", "id")
    return [rule_of(row) for row in rows]


def shared_cost_rules(tag_key: str) -> list[allocation.SharedRule]:
    """The enabled shared-cost rules of ``tag_key``, in the order they are tried."""
    rows = SharedCostRule.objects.filter(tag_key=tag_key, enabled=True).order_by("position", "id")
    return [shared_rule_of(row) for row in rows]


def current_version() -> AllocationVersion | None:
    """The latest allocation version (``None`` until a rule was first saved)."""
    return AllocationVersion.objects.order_by("-version").first()


def rule_of(row: AllocationRule) -> allocation.Rule:
    """The core's rule for a row, saved or not (an unsaved one has id 0)."""
    return allocation.Rule(
        id=row.pk or 0,
        name=row.name,
        tag_key=row.tag_key,
        value=row.value,
        accounts=frozenset(row.accounts or ()),
        regions=frozenset(row.regions or ()),
        services=frozenset(row.services or ()),
        resource_types=frozenset(row.resource_types or ()),
        name_pattern=row.name_pattern,
        arn_pattern=row.arn_pattern,
        related=row.related,
    )


def shared_rule_of(row: SharedCostRule) -> allocation.SharedRule:
    """The core's shared-cost rule for a row, saved or not (an unsaved one has id 0)."""
    return allocation.SharedRule(
        id=row.pk or 0,
        name=row.name,
        tag_key=row.tag_key,
        mode=row.mode,
        services=frozenset(row.services or ()),
        charge_categories=frozenset(row.charge_categories or ()),
        percentages={
            str(value): Decimal(str(share)) for value, share in (row.percentages or {}).items()
        },
    )


def allocation_snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every rule of both kinds as plain JSON: what an :class:`AllocationVersion` keeps."""
    return {
        "allocation_rules": [
            rule_fields(row) for row in AllocationRule.objects.order_by("tag_key", "position", "id")
        ],
        "shared_cost_rules": [
            rule_fields(row) for row in SharedCostRule.objects.order_by("tag_key", "position", "id")
        ],
    }


def rule_fields(row: AllocationRule | SharedCostRule) -> dict[str, Any]:
    """A rule's own fields (not when or by whom it was saved), as JSON."""
    skipped = {"created_at", "updated_at", "updated_by"}
    return {
        field.name: field.value_from_object(row)
        for field in row._meta.concrete_fields
        if field.name not in skipped
    }


# --- what is wrong with a rule ----------------------------------------------------------------


def _text_problem(text: str, *, max_length: int, what: str) -> str | None:
    if len(text) > max_length:
        return f"{what} is longer than {max_length} characters ({len(text)})"
    if has_hidden_characters(text):
        return f"{what} holds control or invisible characters"
    return None


def _tag_key_problem(tag_key: str) -> str | None:
    if not tag_key:
        return "give the tag key the rule allocates"
    return _text_problem(tag_key, max_length=TAG_KEY_LENGTH, what="the tag key")


def _value_problem(value: str, policy_rule: TagRule | None, tag_key: str) -> str | None:
    problem = _text_problem(value, max_length=TAG_VALUE_LENGTH, what="the value")
    if problem:
        return problem
    if policy_rule is not None:
        violations = policy_rule.value_violations(value)
        if violations:
            expected = "; ".join(dict.fromkeys(e for _, e in violations))
            return (
                f"{value!r} is not a valid value of {tag_key} under the active policy ({expected})"
            )
    return None


def _list_problem(items: object, field: str) -> str | None:
    """A matcher list: a JSON list of non-empty strings, each as the field wants it."""
    if not isinstance(items, list):
        return 'give a list (e.g. ["a", "b"]), or [] for any'
    for item in items:
        if not isinstance(item, str) or not item.strip():
            return "every entry is a non-empty string"
        problem = _text_problem(item, max_length=256, what=f"{item[:40]!r}")
        if problem:
            return problem
        if field == "accounts" and not ACCOUNT_ID.fullmatch(item):
            return f"{item!r} is not an AWS account id (12 digits)"
        if field == "regions" and not REGION.fullmatch(item):
            return f"{item!r} is not an AWS region name (e.g. eu-west-1)"
        if field == "resource_types" and item not in RESOURCE_TYPES:
            return f"unknown resource type {item!r}; supported: {', '.join(RESOURCE_TYPES)}"
        if field == "charge_categories" and item not in CHARGE_CATEGORIES:
            return f"unknown charge category {item!r}; one of {', '.join(CHARGE_CATEGORIES)}"
    return None


#: The longest pattern: each is matched against every charge a rule may take, in time that
#: grows with the pattern's length times the name's or ARN's.
MAX_PATTERN = 256


def _pattern_problem(pattern: str, field: str) -> str | None:
    return _text_problem(pattern, max_length=MAX_PATTERN, what="the pattern")


def _common_problems(
    row: AllocationRule | SharedCostRule, list_fields: tuple[str, ...]
) -> Problems:
    problems: Problems = {}
    key_problem = _tag_key_problem(row.tag_key)
    if key_problem:
        problems["tag_key"] = key_problem
    if not row.name.strip():
        problems["name"] = "give the rule a name"
    elif problem := _text_problem(row.name, max_length=200, what="the name"):
        problems["name"] = problem
    for field in list_fields:
        if problem := _list_problem(getattr(row, field), field):
            problems[field] = problem
    return problems


def rule_problems(rule: AllocationRule) -> Problems:
    """What is wrong with an allocation rule: field -> message; empty when it can be saved."""
    problems = _common_problems(rule, ("accounts", "regions", "services", "resource_types"))
    for field in ("name_pattern", "arn_pattern"):
        if problem := _pattern_problem(getattr(rule, field), field):
            problems[field] = problem
    if rule.related not in AllocationRule.Related.values:
        problems["related"] = f"one of {', '.join(repr(v) for v in AllocationRule.Related.values)}"
    elif rule.related and rule.value:
        problems["value"] = "leave the value empty: the related resource gives it"
    elif not rule.related and not rule.value:
        problems["value"] = "give the value, or choose a related resource that gives it"
    elif (
        not rule.related
        and "tag_key" not in problems
        and (problem := _value_problem(rule.value, active_rule_for(rule.tag_key), rule.tag_key))
    ):
        problems["value"] = problem
    if not any(getattr(rule, field) for field in MATCHER_FIELDS):
        problems.setdefault("arn_pattern", EMPTY_RULE)
    return problems


def _percentage(share: object) -> Decimal | None:
    """A percentage as written: a decimal string (or a whole number), > 0, at most 4 places."""
    if isinstance(share, bool) or not isinstance(share, str | int):
        return None
    try:
        number = Decimal(str(share).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number <= 0:
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PERCENTAGE_PLACES:
        return None
    return number


def _percentages_problem(
    percentages: object, policy_rule: TagRule | None, tag_key: str
) -> str | None:
    if not isinstance(percentages, Mapping) or not percentages:
        return 'give value -> percentage, e.g. {"red": "60", "blue": "40"}, adding up to 100'
    total = Decimal(0)
    for value, share in percentages.items():
        if problem := _value_problem(str(value), policy_rule, tag_key):
            return problem
        number = _percentage(share)
        if number is None:
            return (
                f"the percentage of {str(value)!r} is not a number above 0 written as a string "
                f'with at most {PERCENTAGE_PLACES} decimal places (e.g. "12.5")'
            )
        total += number
    if total != HUNDRED:
        return f"the percentages add up to {total}, not exactly 100"
    return None


def shared_rule_problems(rule: SharedCostRule) -> Problems:
    """What is wrong with a shared-cost rule: field -> message; empty when it can be saved."""
    problems = _common_problems(rule, ("services", "charge_categories"))
    if rule.mode not in SharedCostRule.Mode.values:
        problems["mode"] = f"one of {', '.join(SharedCostRule.Mode.values)}"
    elif rule.mode == SharedCostRule.Mode.FIXED:
        policy_rule = active_rule_for(rule.tag_key) if "tag_key" not in problems else None
        if problem := _percentages_problem(rule.percentages, policy_rule, rule.tag_key):
            problems["percentages"] = problem
    elif rule.percentages:
        problems["percentages"] = "only fixed percentages take percentages: leave it empty ({})"
    return problems
