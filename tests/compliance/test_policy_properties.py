"""Properties of the tagging-policy engine that must hold for every policy and every tag set."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from compliance.core.policy import (
    INVALID_FORMAT,
    INVALID_VALUE,
    MISSING_REQUIRED_TAG,
    VIOLATION_TYPES,
    WRONG_KEY_CASE,
    Finding,
    Policy,
    PolicyError,
    TagRule,
    compliance_score,
    evaluate,
    is_in_scope,
    parse_policy,
    policy_from_dict,
    policy_to_aws_org,
    policy_to_dict,
    rules_for_type,
)
from compliance.core.untrusted import without_hidden_characters

KNOWN_TYPES = [
    "ec2:instance",
    "ec2:volume",
    "s3:bucket",
    "rds:db",
    "lambda:function",
    "logs:log-group",
]

resource_types = st.sampled_from(KNOWN_TYPES) | st.from_regex(
    r"[a-z0-9][a-z0-9-]{0,8}:[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True
)
applies_to_entries = resource_types | st.sampled_from(["ec2:*", "rds:*", "logs:*"])


def _valid_name(name: str) -> bool:
    return bool(name.strip()) and name == name.strip() and not name.casefold().startswith("aws:")


def _text(**bounds: int) -> st.SearchStrategy[str]:
    """Any text but NUL: a policy document holding one is refused (PostgreSQL cannot store it),
    so no round trip can include it."""
    return st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), **bounds)


tag_names = (
    st.from_regex(r"[A-Za-z][A-Za-z0-9_.:/=+@-]{0,19}", fullmatch=True)
    | _text(min_size=1, max_size=30)
).filter(_valid_name)
# Tag values as AWS resources carry them: anything but an asterisk, which no AWS value needs and
# which allowed values use as their wildcard.
plain_values = _text(min_size=1, max_size=25).filter(lambda v: "*" not in v and not v.isspace())


def _unique_names(names: list[str]) -> bool:
    return len({n.casefold() for n in names}) == len(names)


@st.composite
def satisfiable_rule(draw: st.DrawFn, name: str) -> tuple[TagRule, str]:
    """A rule and a value that meets it, so tests can build compliant tags."""
    good = draw(plain_values)
    allowed: list[str] | None = None
    if draw(st.booleans()):
        others = draw(st.lists(plain_values, max_size=4))
        cut = draw(st.integers(0, len(good)))
        # The good value itself, or a wildcard entry that covers it (AWS "CC-*" / "*@x.com" style).
        entry = draw(st.sampled_from([good, good[:cut] + "*", "*" + good[cut:]]))
        allowed = [*others, entry]
    regex = draw(st.sampled_from([None, re.escape(good), r"(?s).+", r"(?s)\S.*|\s+\S(?s:.*)"]))
    applies = draw(st.none() | st.lists(applies_to_entries, max_size=3))
    rule = TagRule(
        name=name,
        description=draw(_text(max_size=20)),
        allowed_values=None if allowed is None else tuple(allowed),
        validation_regex=regex,
        applies_to=None if applies is None else tuple(applies),
    )
    return rule, good


@st.composite
def policies_with_good_values(draw: st.DrawFn) -> tuple[Policy, dict[str, str]]:
    names = draw(st.lists(tag_names, min_size=1, max_size=7, unique_by=str.casefold))
    split = draw(st.integers(1, len(names)))
    required = [draw(satisfiable_rule(name)) for name in names[:split]]
    optional = [draw(satisfiable_rule(name))[0] for name in names[split:]]
    naming = draw(
        st.dictionaries(
            _text(max_size=10),
            st.none() | st.booleans() | st.integers() | _text(max_size=10),
            max_size=3,
        )
    )
    policy = Policy(
        version=draw(_text(max_size=10)),
        name=draw(_text(max_size=30)),
        required_tags=tuple(rule for rule, _ in required),
        optional_tags=tuple(optional),
        tag_naming_rules=naming,
    )
    return policy, {rule.name: good for rule, good in required}


policies = policies_with_good_values().map(lambda pair: pair[0])


@st.composite
def compliant_resources(draw: st.DrawFn) -> tuple[Policy, str, dict[str, str]]:
    """A policy, a type, and tags meeting every required tag plus unrelated extra tags."""
    policy, good_values = draw(policies_with_good_values())
    folded = {name.casefold() for name in good_values}
    # Unrelated also on screen: a key that reads as a policy key once its hidden characters are
    # dropped is a hidden_characters_in_key violation, not an extra tag.
    seen = {without_hidden_characters(name).casefold() for name in good_values}
    extra = draw(
        st.dictionaries(
            _text(max_size=15).filter(
                lambda k: (
                    k.casefold() not in folded
                    and without_hidden_characters(k).casefold() not in seen
                )
            ),
            _text(max_size=15),
        )
    )
    return policy, draw(resource_types), {**extra, **good_values}


def _applicable_rule(policy: Policy, resource_type: str, data: Any) -> TagRule:
    rules = rules_for_type(policy, resource_type)
    assume(rules)
    rule: TagRule = data.draw(st.sampled_from(rules))
    return rule


@given(compliant_resources())
def test_tags_built_to_satisfy_the_policy_have_no_finding(case: Any) -> None:
    policy, resource_type, tags = case
    assert evaluate(policy, resource_type, tags) == []


@given(compliant_resources(), st.data())
def test_removing_a_required_key_gives_exactly_missing_required_tag(case: Any, data: Any) -> None:
    policy, resource_type, tags = case
    rule = _applicable_rule(policy, resource_type, data)
    del tags[rule.name]
    assert evaluate(policy, resource_type, tags) == [
        Finding(MISSING_REQUIRED_TAG, rule.name, None, f"key '{rule.name}'")
    ]


@given(compliant_resources(), st.data())
def test_changing_the_key_case_gives_exactly_wrong_key_case(case: Any, data: Any) -> None:
    policy, resource_type, tags = case
    rule = _applicable_rule(policy, resource_type, data)
    renamed = data.draw(
        st.sampled_from([rule.name.swapcase(), rule.name.upper(), rule.name.lower()])
    )
    assume(renamed != rule.name and renamed.casefold() == rule.name.casefold())
    tags[renamed] = tags.pop(rule.name)
    assert evaluate(policy, resource_type, tags) == [
        Finding(
            WRONG_KEY_CASE,
            rule.name,
            tags[renamed],
            f"key '{rule.name}' (found '{renamed}')",
        )
    ]


@given(compliant_resources(), st.data(), st.sampled_from(["", " ", "\n\t"]))
def test_blanking_a_value_gives_exactly_one_invalid_value(case: Any, data: Any, blank: str) -> None:
    policy, resource_type, tags = case
    rule = _applicable_rule(policy, resource_type, data)
    tags[rule.name] = blank
    assert evaluate(policy, resource_type, tags) == [
        Finding(INVALID_VALUE, rule.name, blank, "a non-empty value")
    ]


@given(
    policies,
    _text(max_size=30),
    st.dictionaries(_text(max_size=20), _text(max_size=20), max_size=12),
)
def test_evaluate_never_raises_and_reports_only_applicable_rules(
    policy: Policy, resource_type: str, tags: dict[str, str]
) -> None:
    findings = evaluate(policy, resource_type, tags)
    applicable = {rule.name for rule in rules_for_type(policy, resource_type)}
    assert all(f.violation_type in VIOLATION_TYPES for f in findings)
    assert {f.tag_name for f in findings} <= applicable
    if not is_in_scope(policy, resource_type):
        assert findings == []
    per_tag: dict[str, list[str]] = {}
    for finding in findings:
        per_tag.setdefault(finding.tag_name, []).append(finding.violation_type)
    for kinds in per_tag.values():
        # One finding per tag, except a value that breaks both its list and its format.
        assert len(kinds) == 1 or kinds == [INVALID_VALUE, INVALID_FORMAT]


@given(policies, resource_types, st.dictionaries(_text(max_size=8), _text(max_size=8)))
def test_findings_do_not_depend_on_the_order_of_tags(
    policy: Policy, resource_type: str, tags: dict[str, str]
) -> None:
    reordered = dict(reversed(list(tags.items())))
    assert evaluate(policy, resource_type, reordered) == evaluate(policy, resource_type, tags)


@given(policies)
def test_native_dict_round_trips(policy: Policy) -> None:
    document = policy_to_dict(policy)
    assert policy_from_dict(document) == policy
    assert parse_policy(json.dumps(document)) == policy


@given(policies)
def test_native_yaml_round_trips(policy: Policy) -> None:
    # PyYAML's default escapes non-ASCII; with allow_unicode it writes a NEL its reader folds.
    assert parse_policy(yaml.safe_dump(policy_to_dict(policy))) == policy


@given(policies)
def test_aws_org_export_keeps_keys_values_and_types(policy: Policy) -> None:
    again = policy_from_dict(policy_to_aws_org(policy))
    assert again.required_tags == tuple(
        TagRule(rule.name, allowed_values=rule.allowed_values, applies_to=rule.applies_to)
        for rule in policy.required_tags
    )


@given(_text(max_size=300))
def test_parse_policy_refuses_any_text_with_policy_error_only(text: str) -> None:
    with contextlib.suppress(PolicyError):
        parse_policy(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(_text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
tag_shaped = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values | tag_names,
        "description": json_values,
        "allowed_values": json_values | st.lists(_text(max_size=5), max_size=3),
        "validation_regex": json_values,
        "applies_to": json_values | st.lists(applies_to_entries, max_size=3),
    },
)
document_shaped = st.fixed_dictionaries(
    {"required_tags": st.lists(tag_shaped | json_values, max_size=3)},
    optional={"name": json_values, "version": json_values, "tag_naming_rules": json_values},
) | st.fixed_dictionaries({"tags": st.dictionaries(_text(max_size=8), json_values, max_size=3)})


@given(document_shaped | json_values)
def test_policy_from_dict_refuses_any_data_with_policy_error_only(data: object) -> None:
    with contextlib.suppress(PolicyError):
        policy_from_dict(data)


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_score_is_a_fraction_of_one_or_none(a: int, b: int) -> None:
    compliant, in_scope = min(a, b), max(a, b)
    score = compliance_score(compliant, in_scope)
    if in_scope == 0:
        assert score is None
    else:
        assert score is not None
        assert 0.0 <= score <= 1.0
        assert (score == 1.0) is (compliant == in_scope)
