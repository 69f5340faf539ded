"""The tagging-policy engine, by example: each format, each violation, each refusal."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from compliance.core.policy import (
    INVALID_FORMAT,
    INVALID_VALUE,
    MAX_DOCUMENT_BYTES,
    MISSING_REQUIRED_TAG,
    VIOLATION_TYPES,
    WRONG_KEY_CASE,
    Finding,
    Policy,
    PolicyError,
    TagRule,
    compliance_score,
    documents,
    evaluate,
    is_in_scope,
    parse_policy,
    policy_from_dict,
    policy_to_aws_org,
    policy_to_dict,
    rules_for_type,
)

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "compliance" / "sample_data"

GOOD_TAGS = {
    "Owner": "jane@example.com",
    "CostCenter": "CC-1001",
    "Environment": "production",
    "Project": "checkout",
}


def native(**changes: Any) -> dict[str, Any]:
    """A small valid native document; ``changes`` replace top-level keys."""
    document: dict[str, Any] = {
        "version": "1.0",
        "name": "test",
        "required_tags": [
            {"name": "Owner", "validation_regex": r"[a-z]+@example\.com"},
            {"name": "CostCenter", "allowed_values": ["CC-1001", "CC-2*"]},
            {"name": "Project", "applies_to": ["ec2:instance", "rds:*"]},
        ],
        "optional_tags": [{"name": "Name"}],
    }
    document.update(changes)
    return document


def with_tag(index: int, **fields: Any) -> dict[str, Any]:
    """The native document with fields of ``required_tags[index]`` replaced."""
    document = native()
    document["required_tags"][index].update(fields)
    return document


def refusal(data: object) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy_from_dict(data)
    return caught.value


@pytest.fixture(scope="module")
def sample() -> Policy:
    return parse_policy((SAMPLE_DATA / "sample_policy.yaml").read_text())


# --- formats ---------------------------------------------------------------------------------


def test_sample_yaml_is_read_as_native(sample: Policy) -> None:
    assert sample.source_format == "native"
    assert sample.name == "Acme FinOps tagging policy"
    assert sample.version == "1.0"
    assert [r.name for r in sample.required_tags] == [
        "Owner",
        "CostCenter",
        "Environment",
        "Project",
    ]
    assert [r.name for r in sample.optional_tags] == ["Name", "Team"]
    assert sample.required_tags[3].applies_to == (
        "ec2:instance",
        "rds:db",
        "lambda:function",
        "s3:bucket",
    )


def test_mcp_json_sample_is_read_unchanged_as_the_same_rules(sample: Policy) -> None:
    policy = parse_policy((SAMPLE_DATA / "tagging_policy.json").read_text())
    assert policy.source_format == "mcp_json"
    assert policy.name == ""
    assert policy.required_tags == sample.required_tags
    assert policy.optional_tags == sample.optional_tags


def test_mcp_json_ignores_keys_it_does_not_use() -> None:
    document = native(last_updated="2026-01-06", supported_resource_types={"compute": []})
    del document["name"]
    document["required_tags"][0]["severity"] = "high"
    assert policy_from_dict(document).source_format == "mcp_json"


def test_aws_org_sample_gives_the_rules_aws_can_express(sample: Policy) -> None:
    policy = parse_policy((SAMPLE_DATA / "aws_org_tag_policy.json").read_text())
    assert policy.source_format == "aws_org"
    assert policy.required_tags == tuple(
        TagRule(name=r.name, allowed_values=r.allowed_values, applies_to=r.applies_to)
        for r in sample.required_tags
    )


def test_json_and_yaml_spellings_of_a_document_give_the_same_policy() -> None:
    assert parse_policy(yaml.safe_dump(native())) == parse_policy(json.dumps(native()))


def test_empty_applies_to_means_every_type() -> None:
    policy = policy_from_dict(with_tag(2, applies_to=[]))
    assert policy.required_tags[2].applies_to is None
    assert is_in_scope(policy, "sqs:queue")


def test_empty_validation_regex_means_none() -> None:
    policy = policy_from_dict(with_tag(0, validation_regex=""))
    assert policy.required_tags[0].validation_regex is None


# --- violations -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy() -> Policy:
    return policy_from_dict(native())


def test_tags_that_meet_every_rule_give_no_finding(policy: Policy) -> None:
    assert evaluate(policy, "ec2:instance", GOOD_TAGS) == []


def test_an_absent_key_is_missing_required_tag(policy: Policy) -> None:
    tags = {k: v for k, v in GOOD_TAGS.items() if k != "CostCenter"}
    assert evaluate(policy, "ec2:instance", tags) == [
        Finding(MISSING_REQUIRED_TAG, "CostCenter", None, "key 'CostCenter'")
    ]


def test_a_key_in_other_case_is_one_wrong_key_case_finding(policy: Policy) -> None:
    tags = {**GOOD_TAGS, "owner": "not an email"}
    del tags["Owner"]
    assert evaluate(policy, "ec2:instance", tags) == [
        Finding(WRONG_KEY_CASE, "Owner", "not an email", "key 'Owner' (found 'owner')")
    ]


def test_several_wrong_case_keys_report_the_first_in_sort_order(policy: Policy) -> None:
    tags = {k: v for k, v in GOOD_TAGS.items() if k != "Owner"}
    tags.update({"owner": "b", "OWNER": "a"})
    (finding,) = evaluate(policy, "ec2:instance", tags)
    assert finding.expected == "key 'Owner' (found 'OWNER')"
    assert finding.current_value == "a"


def test_exact_key_present_beside_another_case_is_judged_on_the_exact_key(policy: Policy) -> None:
    assert evaluate(policy, "ec2:instance", {**GOOD_TAGS, "OWNER": "x"}) == []


def test_a_value_outside_allowed_values_is_invalid_value(policy: Policy) -> None:
    tags = {**GOOD_TAGS, "CostCenter": "CC-9999"}
    assert evaluate(policy, "ec2:instance", tags) == [
        Finding(INVALID_VALUE, "CostCenter", "CC-9999", "one of: CC-1001, CC-2*")
    ]


def test_allowed_values_match_case_sensitively(policy: Policy) -> None:
    (finding,) = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "CostCenter": "cc-1001"})
    assert finding.violation_type == INVALID_VALUE


@pytest.mark.parametrize(
    ("value", "ok"),
    [("CC-2", True), ("CC-2001", True), ("CC-3001", False), ("XCC-2001", False)],
)
def test_a_wildcard_allowed_value_matches_by_prefix(policy: Policy, value: str, ok: bool) -> None:
    findings = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "CostCenter": value})
    assert (findings == []) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a@example.com", True), ("@example.com", True), ("a@example.org", False), ("a@x.com", False)],
)
def test_a_wildcard_inside_a_value_matches_prefix_and_suffix(value: str, ok: bool) -> None:
    policy = policy_from_dict(with_tag(1, allowed_values=["*@example.com"]))
    findings = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "CostCenter": value})
    assert (findings == []) is ok


def test_a_value_not_matching_the_regex_is_invalid_format(policy: Policy) -> None:
    tags = {**GOOD_TAGS, "Owner": "Jane@example.com"}
    assert evaluate(policy, "ec2:instance", tags) == [
        Finding(INVALID_FORMAT, "Owner", "Jane@example.com", r"matches [a-z]+@example\.com")
    ]


def test_the_regex_must_match_the_whole_value(policy: Policy) -> None:
    (finding,) = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "Owner": "jane@example.com.evil"})
    assert finding.violation_type == INVALID_FORMAT


def test_allowed_values_and_regex_are_both_reported_in_that_order() -> None:
    policy = policy_from_dict(with_tag(1, validation_regex=r"CC-\d{4}"))
    findings = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "CostCenter": "finance"})
    assert [f.violation_type for f in findings] == [INVALID_VALUE, INVALID_FORMAT]


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_value_is_one_invalid_value(policy: Policy, value: str) -> None:
    assert evaluate(policy, "ec2:instance", {**GOOD_TAGS, "Owner": value}) == [
        Finding(INVALID_VALUE, "Owner", value, "a non-empty value")
    ]


def test_an_empty_value_is_a_violation_even_without_value_rules(policy: Policy) -> None:
    (finding,) = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "Project": ""})
    assert (finding.violation_type, finding.tag_name) == (INVALID_VALUE, "Project")


def test_findings_follow_policy_order(policy: Policy) -> None:
    findings = evaluate(policy, "ec2:instance", {})
    assert [f.tag_name for f in findings] == ["Owner", "CostCenter", "Project"]
    assert {f.violation_type for f in findings} == {MISSING_REQUIRED_TAG}


def test_a_long_allowed_list_is_summarised_in_expected() -> None:
    values = [f"v{i}" for i in range(12)]
    policy = policy_from_dict(with_tag(1, allowed_values=values))
    (finding,) = evaluate(policy, "ec2:instance", {**GOOD_TAGS, "CostCenter": "x"})
    assert finding.expected == "one of: v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, and 2 more"


def test_violation_types_are_the_contract() -> None:
    assert VIOLATION_TYPES == (
        "missing_required_tag",
        "invalid_value",
        "invalid_format",
        "wrong_key_case",
        "hidden_characters_in_key",
    )


# --- scope ------------------------------------------------------------------------------------


def test_applies_to_limits_a_tag_to_its_types(policy: Policy) -> None:
    assert [r.name for r in rules_for_type(policy, "ec2:instance")] == [
        "Owner",
        "CostCenter",
        "Project",
    ]
    assert [r.name for r in rules_for_type(policy, "s3:bucket")] == ["Owner", "CostCenter"]


def test_a_service_wildcard_covers_every_type_of_the_service(policy: Policy) -> None:
    assert "Project" in [r.name for r in rules_for_type(policy, "rds:cluster")]
    assert "Project" not in [r.name for r in rules_for_type(policy, "rdsx:db")]


def test_a_type_no_required_tag_applies_to_is_out_of_scope() -> None:
    policy = policy_from_dict(
        native(required_tags=[{"name": "Owner", "applies_to": ["s3:bucket"]}])
    )
    assert not is_in_scope(policy, "ec2:instance")
    assert evaluate(policy, "ec2:instance", {}) == []


def test_optional_tags_never_produce_findings(policy: Policy) -> None:
    assert evaluate(policy, "ec2:instance", {**GOOD_TAGS, "Name": ""}) == []
    assert "Name" not in [r.name for r in rules_for_type(policy, "ec2:instance")]


def test_sample_policy_judges_a_demo_like_resource(sample: Policy) -> None:
    tags = {"Owner": "team-payments", "CostCenter": "CC-3001", "environment": "staging"}
    assert evaluate(sample, "lambda:function", tags) == [
        Finding(
            WRONG_KEY_CASE, "Environment", "staging", "key 'Environment' (found 'environment')"
        ),
        Finding(MISSING_REQUIRED_TAG, "Project", None, "key 'Project'"),
    ]
    assert evaluate(sample, "logs:log-group", {**tags, "Environment": "sandbox"}) == []


# --- score --------------------------------------------------------------------------------------


def test_score_is_compliant_over_in_scope() -> None:
    assert compliance_score(3, 4) == 0.75


def test_score_is_none_when_nothing_is_in_scope() -> None:
    assert compliance_score(0, 0) is None


@pytest.mark.parametrize(("compliant", "in_scope"), [(5, 4), (-1, 4), (0, -1)])
def test_score_refuses_impossible_counts(compliant: int, in_scope: int) -> None:
    with pytest.raises(ValueError, match="compliant"):
        compliance_score(compliant, in_scope)


# --- round trip, export, identity ----------------------------------------------------------------


def test_native_dict_round_trips(sample: Policy) -> None:
    document = policy_to_dict(sample)
    assert json.loads(json.dumps(document)) == document
    assert policy_from_dict(document) == sample
    assert parse_policy(json.dumps(document)) == sample


def test_a_round_tripped_mcp_policy_is_native_with_the_same_rules() -> None:
    policy = parse_policy((SAMPLE_DATA / "tagging_policy.json").read_text())
    again = policy_from_dict(policy_to_dict(policy))
    assert again == policy
    assert again.source_format == "native"


def test_aws_org_export(sample: Policy) -> None:
    exported = policy_to_aws_org(sample)
    assert exported["tags"] == {
        "owner": {"tag_key": {"@@assign": "Owner"}},
        "costcenter": {
            "tag_key": {"@@assign": "CostCenter"},
            "tag_value": {"@@assign": ["CC-1001", "CC-1002", "CC-2001", "CC-3001"]},
        },
        "environment": {
            "tag_key": {"@@assign": "Environment"},
            "tag_value": {"@@assign": ["production", "staging", "development", "sandbox"]},
        },
        "project": {
            "tag_key": {"@@assign": "Project"},
            "enforced_for": {
                "@@assign": ["ec2:instance", "rds:db", "lambda:function", "s3:bucket"]
            },
        },
    }


def test_aws_org_export_reads_back_to_the_same_keys_values_and_types(policy: Policy) -> None:
    again = policy_from_dict(policy_to_aws_org(policy))
    assert [(r.name, r.allowed_values, r.applies_to) for r in again.required_tags] == [
        (r.name, r.allowed_values, r.applies_to) for r in policy.required_tags
    ]


def test_policies_are_hashable_and_equal_by_rules_not_by_origin(policy: Policy) -> None:
    mcp = copy.deepcopy(native())
    del mcp["name"]
    from_mcp = policy_from_dict(mcp)
    assert from_mcp.source_format == "mcp_json"
    assert from_mcp == policy_from_dict(native(name=""))
    assert hash(from_mcp) == hash(policy_from_dict(native(name="")))
    assert {policy: 1}[policy_from_dict(native())] == 1


def test_a_policy_pickles_with_its_compiled_state(policy: Policy) -> None:
    rules_for_type(policy, "ec2:instance")
    again = pickle.loads(pickle.dumps(policy))  # noqa: S301 - our own object
    assert again == policy
    assert evaluate(again, "ec2:instance", {**GOOD_TAGS, "Owner": "X"})[0].violation_type == (
        INVALID_FORMAT
    )


def test_policy_error_pickles() -> None:
    error = PolicyError("required_tags[0].name", "is missing")
    error = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (error.field, error.reason, str(error)) == (
        "required_tags[0].name",
        "is missing",
        "required_tags[0].name: is missing",
    )


def test_a_rule_built_in_code_is_normalised_and_checked() -> None:
    rule = TagRule(name="Owner", allowed_values=["a"], applies_to=[])  # type: ignore[arg-type]
    assert (rule.allowed_values, rule.applies_to) == (("a",), None)
    with pytest.raises(PolicyError, match=r"^validation_regex: not a valid regular expression"):
        TagRule(name="Owner", validation_regex="(")


def test_a_policy_built_in_code_takes_a_plain_dict_of_naming_rules() -> None:
    policy = Policy("1", "p", (TagRule("Owner"),), tag_naming_rules={"case_sensitivity": True})
    assert policy.tag_naming_rules["case_sensitivity"] is True
    assert hash(policy) == hash(
        Policy("1", "p", (TagRule("Owner"),), (), {"case_sensitivity": True})
    )


# --- AWS Organizations specifics ------------------------------------------------------------


def org(**statements: Any) -> dict[str, Any]:
    return {"tags": statements}


def test_org_without_tag_key_uses_the_policy_key_in_lower_case() -> None:
    policy = policy_from_dict(org(CostCenter={"tag_value": {"@@assign": ["1"]}}))
    assert policy.required_tags[0].name == "costcenter"


def test_org_all_supported_means_every_type_of_the_service() -> None:
    policy = policy_from_dict(
        org(
            owner={
                "tag_key": {"@@assign": "Owner"},
                "enforced_for": {"@@assign": ["ec2:ALL_SUPPORTED"]},
            }
        )
    )
    assert policy.required_tags[0].applies_to == ("ec2:*",)
    assert is_in_scope(policy, "ec2:volume")
    assert not is_in_scope(policy, "s3:bucket")


def test_org_enforced_for_and_report_required_tag_for_are_combined() -> None:
    policy = policy_from_dict(
        org(
            owner={
                "enforced_for": {"@@assign": ["ec2:instance", "s3:bucket"]},
                "report_required_tag_for": {"@@assign": ["s3:bucket", "rds:db"]},
            }
        )
    )
    assert policy.required_tags[0].applies_to == ("ec2:instance", "s3:bucket", "rds:db")


def test_org_append_adds_and_remove_takes_out_values() -> None:
    policy = policy_from_dict(
        org(
            env={
                "tag_key": {"@@assign": "Env"},
                "tag_value": {
                    "@@assign": ["prod", "dev"],
                    "@@append": ["test"],
                    "@@remove": ["dev"],
                    "@@operators_allowed_for_child_policies": ["@@none"],
                },
            },
            **{"@@operators_allowed_for_child_policies": ["@@all"]},
        )
    )
    assert policy.required_tags[0].allowed_values == ("prod", "test")


def test_org_wildcard_values_are_honoured() -> None:
    policy = policy_from_dict(
        org(costcenter={"tag_key": {"@@assign": "CostCenter"}, "tag_value": {"@@assign": ["CC-*"]}})
    )
    assert evaluate(policy, "s3:bucket", {"CostCenter": "CC-42"}) == []
    assert evaluate(policy, "s3:bucket", {"CostCenter": "DD-42"})[0].violation_type == INVALID_VALUE


def test_org_without_value_or_types_requires_the_key_everywhere() -> None:
    policy = policy_from_dict(org(owner={"tag_key": {"@@assign": "Owner"}}))
    assert policy.required_tags[0] == TagRule("Owner")


# --- refusals: every message names the field and says why --------------------------------------


def test_text_that_is_neither_json_nor_yaml_is_refused_with_its_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("version: '1'\nrequired_tags:\n  - name: [unclosed\n")
    assert caught.value.field == "policy"
    assert caught.value.reason.startswith("not valid JSON or YAML (line 4:")


def test_broken_json_is_reported_at_its_json_position() -> None:
    with pytest.raises(PolicyError, match=r"^policy: not valid JSON or YAML \(line 2 column"):
        parse_policy('{"version": "1",\n "required_tags": [}')


def test_an_empty_document_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"^policy: the document is empty$"):
        parse_policy(" \n")


def test_a_document_over_one_mebibyte_is_refused_before_parsing() -> None:
    with pytest.raises(PolicyError, match=r"^policy: larger than the limit"):
        parse_policy(" " * (MAX_DOCUMENT_BYTES + 1))


def test_size_is_counted_in_utf8_bytes() -> None:
    with pytest.raises(PolicyError, match=r"^policy: larger than the limit"):
        parse_policy("é" * (MAX_DOCUMENT_BYTES // 2 + 1))


def test_a_yaml_alias_bomb_is_refused_without_being_expanded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 9**9 strings if expanded; safe_load shares the lists and the reader stops at the first item.
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\nrequired_tags: *a8\n"
    walked = 0
    original = documents._refuse_nul

    def counting(*args: Any, **kwargs: Any) -> None:
        nonlocal walked
        walked += 1
        original(*args, **kwargs)

    monkeypatch.setattr(documents, "_refuse_nul", counting)
    with pytest.raises(PolicyError, match=r"^required_tags\[0\]: must be an object"):
        parse_policy(bomb)
    # Each shared list is looked into once: 9 items in each of 9 lists, not 9**9 strings.
    assert walked < 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "policy: duplicate key 'a'"),
        ("a: 1\nb: 2\na: 3\n", "policy: duplicate key 'a' (line 3)"),
    ],
)
def test_duplicate_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("data", "field", "reason_starts"),
    [
        ([], "policy", "the top level must be an object, got a list"),
        ("", "policy", "the top level must be an object, got a string"),
        ({"version": "1"}, "policy", "found neither 'required_tags'"),
        (native(required_tags=[]), "required_tags", "is empty"),
        (native(required_tags={"Owner": {}}), "required_tags", "must be a list"),
        (native(optional_tags="Name"), "optional_tags", "must be a list"),
        (native(extra=1), "extra", "unknown key in the native format"),
        (native(version=1.1), "version", "must be a string, got the number 1.1"),
        (native(name=7), "name", "must be a string"),
        (native(name="n" * 201), "name", "longer than 200"),
        (native(tag_naming_rules=[]), "tag_naming_rules", "must be an object"),
        (native(tag_naming_rules={"x": [1]}), "tag_naming_rules.x", "must be a string, number"),
        (native(tag_naming_rules={"x": float("nan")}), "tag_naming_rules.x", "must be a finite"),
        (native(required_tags=["Owner"]), "required_tags[0]", "must be an object"),
        (with_tag(1, priority=1), "required_tags[1].priority", "unknown key in a tag"),
        (native(required_tags=[{"description": "x"}]), "required_tags[0].name", "is missing"),
        (with_tag(1, name=""), "required_tags[1].name", "must not be empty"),
        (with_tag(1, name=None), "required_tags[1].name", "must be a string, got null"),
        (with_tag(1, name="Cost "), "required_tags[1].name", "'Cost ' starts or ends"),
        (with_tag(1, name="k" * 129), "required_tags[1].name", "longer than the AWS tag key"),
        (with_tag(1, name="AWS:cost"), "required_tags[1].name", "'AWS:cost' uses the prefix"),
        (with_tag(2, name="owner"), "required_tags[2].name", "'owner' is already defined at"),
        (
            native(optional_tags=[{"name": "PROJECT"}]),
            "optional_tags[0].name",
            "'PROJECT' is already defined at required_tags[2].name",
        ),
        (with_tag(1, description=3), "required_tags[1].description", "must be a string"),
        (with_tag(1, allowed_values="CC-1"), "required_tags[1].allowed_values", "must be a list"),
        (with_tag(1, allowed_values=[]), "required_tags[1].allowed_values", "is empty"),
        (with_tag(1, allowed_values=["a", 2]), "required_tags[1].allowed_values[1]", "must be a"),
        (with_tag(1, allowed_values=[True]), "required_tags[1].allowed_values[0]", "must be a"),
        (with_tag(1, allowed_values=["a", ""]), "required_tags[1].allowed_values[1]", "an empty"),
        (with_tag(1, allowed_values=["v" * 257]), "required_tags[1].allowed_values[0]", "longer"),
        (with_tag(1, allowed_values=["*a*"]), "required_tags[1].allowed_values[0]", "'*a*' has"),
        (with_tag(0, validation_regex=5), "required_tags[0].validation_regex", "must be a string"),
        (
            with_tag(0, validation_regex="(a"),
            "required_tags[0].validation_regex",
            "not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        (with_tag(2, applies_to="ec2:instance"), "required_tags[2].applies_to", "must be a list"),
        (
            with_tag(2, applies_to=["ec2:instance", "EC2:instance"]),
            "required_tags[2].applies_to[1]",
            "'EC2:instance' is not",
        ),
        (
            with_tag(2, applies_to=["instance"]),
            "required_tags[2].applies_to[0]",
            "'instance' is not",
        ),
        (with_tag(2, applies_to=["*:*"]), "required_tags[2].applies_to[0]", "'*:*' is not"),
        (
            with_tag(2, applies_to=["ec2:ALL_SUPPORTED"]),
            "required_tags[2].applies_to[0]",
            "write 'ec2:*'",
        ),
        (org(), "tags", "defines no tag"),
        ({"tags": [], "x": 1}, "x", "unknown key in an AWS Organizations tag policy"),
        ({"tags": []}, "tags", "must be an object"),
        (org(cc="CostCenter"), "tags.cc", "must be an object"),
        (org(cc={"tag_keys": {}}), "tags.cc.tag_keys", "unknown key in a tag policy statement"),
        (org(cc={"tag_key": "CostCenter"}), "tags.cc.tag_key", "must be an object"),
        (
            org(cc={"tag_key": {"@@assign": "Owner"}}),
            "tags.cc.tag_key.@@assign",
            "'Owner' must be the policy key",
        ),
        (org(cc={"tag_key": {"@@append": "CC"}}), "tags.cc.tag_key.@@append", "tag_key only takes"),
        (org(cc={"tag_value": ["1"]}), "tags.cc.tag_value", "must be an object"),
        (org(cc={"tag_value": {"@@set": ["1"]}}), "tags.cc.tag_value.@@set", "unknown operator"),
        (
            org(cc={"tag_value": {"@@assign": {"a": 1}}}),
            "tags.cc.tag_value.@@assign",
            "must be a list",
        ),
        (
            org(cc={"tag_value": {"@@append": ["1", 2]}}),
            "tags.cc.tag_value.@@append[1]",
            "must be a",
        ),
        (org(cc={"tag_value": {"@@remove": [2]}}), "tags.cc.tag_value.@@remove[0]", "must be a"),
        (org(cc={"tag_value": {"@@assign": []}}), "tags.cc.tag_value", "allows no value"),
        (
            org(cc={"tag_value": {"@@assign": ["1"], "@@remove": ["1"]}}),
            "tags.cc.tag_value",
            "allows no value",
        ),
        (
            org(cc={"enforced_for": {"@@assign": ["*"]}}),
            "tags.cc.enforced_for.@@assign[0]",
            "'*' is not",
        ),
        (org(**{"aws:cc": {}}), "tags.aws:cc", "'aws:cc' uses the prefix"),
        (org(cc={}, CC={}), "tags.CC", "'cc' is already defined at tags.cc"),
    ],
)
def test_a_malformed_policy_is_refused_naming_the_field(
    data: object, field: str, reason_starts: str
) -> None:
    error = refusal(data)
    assert error.field == field
    assert error.reason.startswith(reason_starts), error.reason
    assert str(error) == f"{field}: {error.reason}"


def test_yaml_scalars_that_are_not_strings_get_a_quoting_hint() -> None:
    text = "name: p\nrequired_tags:\n  - name: Backup\n    allowed_values: [yes, no]\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert str(caught.value) == (
        "required_tags[0].allowed_values[0]: must be a string, got true (a boolean) "
        "(quote it in YAML)"
    )


def test_a_yaml_date_where_text_is_expected_gets_the_quoting_hint() -> None:
    text = "name: p\nrequired_tags:\n  - name: Backup\n    description: 2024-01-01\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.reason == "must be a string, got the date 2024-01-01 (quote it in YAML)"


def test_an_unquoted_yaml_version_is_refused_rather_than_misread() -> None:
    with pytest.raises(
        PolicyError, match=r"^version: must be a string, got the number 1.1 \(write it quoted"
    ):
        parse_policy("version: 1.10\nname: p\nrequired_tags: [{name: Owner}]\n")


def test_a_whole_number_version_is_kept_as_its_digits() -> None:
    assert policy_from_dict(native(version=3)).version == "3"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"name": "Own\u0000er"}, "required_tags[0].name"),
        ({"allowed_values": ["prod", "te\u0000st"]}, "required_tags[0].allowed_values[1]"),
        ({"description": "\u0000"}, "required_tags[0].description"),
    ],
)
def test_a_nul_character_anywhere_in_a_document_is_refused(
    fields: dict[str, Any], where: str
) -> None:
    """Written ``\\u0000`` in JSON: PostgreSQL could not store it (a failed save, not a message)."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(json.dumps(with_tag(0, **fields)))
    assert (caught.value.field, caught.value.reason) == (where, "contains a NUL character")


def test_an_aws_rds_cluster_covers_documentdb_and_neptune_clusters_both_ways() -> None:
    document = {
        "tags": {
            "owner": {
                "tag_key": {"@@assign": "Owner"},
                "enforced_for": {"@@assign": ["rds:cluster"]},
            }
        }
    }
    read = parse_policy(json.dumps(document))
    assert read.required_tags[0].applies_to == ("rds:cluster", "docdb:cluster", "neptune:cluster")
    written = policy_to_aws_org(read)
    assert written == {
        "tags": {
            "owner": {
                "tag_key": {"@@assign": "Owner"},
                "enforced_for": {"@@assign": ["rds:cluster"]},
            }
        }
    }


def test_every_type_aws_names_otherwise_is_a_type_we_scan() -> None:
    from compliance.aws import RESOURCE_TYPES
    from compliance.core.policy.aws_org import AWS_TYPE_COVERS

    for aws_type, covered in AWS_TYPE_COVERS.items():
        assert {aws_type, *covered} <= set(RESOURCE_TYPES)


def test_a_rule_for_documentdb_clusters_alone_enforces_nothing_on_rds_clusters() -> None:
    rules = (
        TagRule(name="Owner", applies_to=("docdb:cluster",)),
        TagRule(name="Team", applies_to=("docdb:cluster", "ec2:instance")),
    )
    written = policy_to_aws_org(Policy(version="1", name="p", required_tags=rules))
    assert written == {
        "tags": {
            "owner": {"tag_key": {"@@assign": "Owner"}},
            "team": {
                "tag_key": {"@@assign": "Team"},
                "enforced_for": {"@@assign": ["ec2:instance"]},
            },
        }
    }
