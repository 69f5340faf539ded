# ruff: noqa: RUF001 (the corpus is made of look-alike characters on purpose)
"""Bad tool arguments: wrong types, unknown fields, unicode tricks, injection strings and
cross-account reads, for every tool. Each is refused with a readable tool error, audited as
``mcp.denied``, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_endpoint.tools import TOOLS
from tests.security.checks import assert_mcp_refused
from tests.security.conftest import (
    OTHER_ACCOUNT,
    OTHER_ARN,
    UNREGISTERED_ACCOUNT,
    Estate,
    McpClient,
    Snapshot,
    assert_test_database,
    tool_call,
)


def test_the_corpus_runs_on_the_test_database(db: None) -> None:
    assert_test_database()


def _fields(tool: str) -> set[str]:
    return set(TOOLS[tool].input_model.model_fields)


#: Wrong for every tool: a field it does not have, or a field it has with a wrong value.
GENERIC: list[tuple[str, Any]] = [
    ("unknown_field", {"verbose": True}),
    ("proto_pollution", {"__proto__": {"admin": True}}),
    ("sql_as_field_name", {"account_ids; DROP TABLE compliance_resource": []}),
    ("arguments_string", "account_ids=123456789012"),
    ("arguments_list", [["account_ids", "123456789012"]]),
    ("arguments_number", 42),
    ("account_ids_not_a_list", {"account_ids": "123456789012"}),
    ("account_ids_int", {"account_ids": [123456789012]}),
    ("account_ids_sql", {"account_ids": ["' OR '1'='1"]}),
    ("account_ids_fullwidth_digits", {"account_ids": ["１２３４５６７８９０１２"]}),
    ("account_ids_arabic_digits", {"account_ids": ["١٢٣٤٥٦٧٨٩٠١٢"]}),
    ("account_ids_nul", {"account_ids": ["123456789012\u0000"]}),
    ("account_ids_too_many", {"account_ids": ["123456789012"] * 101}),
    ("regions_traversal", {"regions": ["../../etc/passwd"]}),
    ("regions_shell", {"regions": ["eu-west-1; rm -rf /"]}),
    ("regions_rtl_override", {"regions": ["eu-west-1\u202e"]}),
    ("resource_types_template", {"resource_types": ["{{ settings.SECRET_KEY }}"]}),
    ("resource_types_csv_formula", {"resource_types": ["=cmd|' /C calc'!A0"]}),
    ("limit_negative", {"limit": -1}),
    ("limit_huge", {"limit": 10**12}),
    ("limit_float", {"limit": 1.5}),
    ("limit_object", {"limit": {"$gt": 0}}),
    ("cursor_forged", {"cursor": "eyJxIjoiYWJjIiwibyI6MH0:forged:signature"}),
    ("cursor_traversal", {"cursor": "../../etc/passwd"}),
    ("cursor_overlong", {"cursor": "x" * 5000}),
]

GENERIC_CASES = [
    pytest.param(tool, arguments, id=f"{tool}-{name}")
    for tool in sorted(TOOLS)
    for name, arguments in GENERIC
]


@pytest.mark.parametrize(("tool", "arguments"), GENERIC_CASES)
def test_bad_arguments_are_refused_for_every_tool(
    mcp: McpClient, estate: Estate, tool: str, arguments: Any
) -> None:
    before = Snapshot.take()
    reply = mcp.request(tool_call(tool, arguments), key=estate.keys["alice"])
    event = assert_mcp_refused(reply, before, statuses={200})
    assert event.target == tool


LONG = "A" * 100_000
#: Tool-specific wrong values: types, ranges, formats, unicode and injection.
SPECIFIC: list[tuple[str, str, Any]] = [
    ("check_tag_compliance", "violation_types_unknown", {"violation_types": ["all"]}),
    ("check_tag_compliance", "violation_types_sql", {"violation_types": ["x' OR 1=1--"]}),
    ("check_tag_compliance", "tag_names_empty_key", {"tag_names": [""]}),
    ("check_tag_compliance", "tag_names_overlong", {"tag_names": ["K" * 129]}),
    ("check_tag_compliance", "tag_names_nul", {"tag_names": ["Owner\u0000"]}),
    ("check_tag_compliance", "tag_names_lone_surrogate", {"tag_names": ["Owner\ud800"]}),
    ("check_tag_compliance", "tag_names_rtl_override", {"tag_names": ["\u202erenwO"]}),
    ("check_tag_compliance", "tag_names_emoji", {"tag_names": ["Owner\U0001f4b0"]}),
    ("check_tag_compliance", "tag_names_zero_width", {"tag_names": ["Ow\u200bner"]}),
    ("check_tag_compliance", "tag_names_sql", {"tag_names": ["Owner'; DROP TABLE x;--"]}),
    ("check_tag_compliance", "tag_names_template", {"tag_names": ["{{7*7}}"]}),
    ("check_tag_compliance", "tag_names_dict", {"tag_names": {"Owner": 1}}),
    ("check_tag_compliance", "tag_names_too_many", {"tag_names": ["Owner"] * 51}),
    ("find_untagged_resources", "include_wrong_case_string", {"include_wrong_case": "maybe"}),
    ("find_untagged_resources", "include_wrong_case_list", {"include_wrong_case": [True]}),
    ("find_untagged_resources", "tag_names_newline", {"tag_names": ["Owner\nCostCenter"]}),
    ("find_untagged_resources", "tag_names_shell", {"tag_names": ["$(id)"]}),
    ("validate_resource_tags", "nothing", {}),
    ("validate_resource_tags", "both_subjects", {"resource_arn": OTHER_ARN, "tags": {}}),
    ("validate_resource_tags", "tags_without_type", {"tags": {"Owner": "a@example.com"}}),
    ("validate_resource_tags", "type_unknown", {"resource_type": "ec2:*", "tags": {}}),
    ("validate_resource_tags", "tags_list", {"resource_type": "s3:bucket", "tags": ["Owner"]}),
    ("validate_resource_tags", "tag_value_int", {"resource_type": "s3:bucket", "tags": {"a": 1}}),
    (
        "validate_resource_tags",
        "tag_value_overlong",
        {"resource_type": "s3:bucket", "tags": {"Owner": "v" * 257}},
    ),
    (
        "validate_resource_tags",
        "tag_key_nul",
        {"resource_type": "s3:bucket", "tags": {"Own\u0000er": "a@example.com"}},
    ),
    (
        "validate_resource_tags",
        "tag_key_rtl",
        {"resource_type": "s3:bucket", "tags": {"\u202eOwner": "a@example.com"}},
    ),
    (
        "validate_resource_tags",
        "tag_value_surrogate",
        {"resource_type": "s3:bucket", "tags": {"Owner": "\udfff"}},
    ),
    (
        "validate_resource_tags",
        "tag_value_csv_formula",
        {"resource_type": "s3:bucket", "tags": {"Owner": '=HYPERLINK("http://x")'}},
    ),
    (
        "validate_resource_tags",
        "too_many_tags",
        {"resource_type": "s3:bucket", "tags": {f"k{i}": "v" for i in range(51)}},
    ),
    ("validate_resource_tags", "arn_not_arn", {"resource_arn": "i-0123456789abcdef0"}),
    ("validate_resource_tags", "arn_traversal", {"resource_arn": "../../etc/passwd"}),
    ("validate_resource_tags", "arn_overlong", {"resource_arn": "arn:aws:" + LONG[:3000]}),
    ("validate_resource_tags", "arn_int", {"resource_arn": 1234}),
    ("validate_resource_tags", "arn_sql", {"resource_arn": "arn:aws:s3:::x' OR 1=1--"}),
    ("validate_resource_tags", "arn_nul", {"resource_arn": "arn:aws:s3:::bucket\u0000"}),
    ("suggest_tags", "no_arn", {}),
    ("suggest_tags", "arn_null", {"resource_arn": None}),
    ("suggest_tags", "arn_not_arn", {"resource_arn": "s3://bucket"}),
    ("suggest_tags", "arn_file", {"resource_arn": "file:///etc/passwd"}),
    ("suggest_tags", "arn_unknown", {"resource_arn": "arn:aws:s3:::no-such-bucket"}),
    ("suggest_tags", "arn_template", {"resource_arn": "arn:aws:s3:::{{ request }}"}),
    ("generate_compliance_report", "format_pdf", {"format": "pdf"}),
    ("generate_compliance_report", "format_traversal", {"format": "../../etc/passwd"}),
    ("generate_compliance_report", "format_template", {"format": "{% debug %}"}),
    ("generate_compliance_report", "format_upper", {"format": "JSON"}),
    ("generate_compliance_report", "max_violations_negative", {"max_violations": -5}),
    ("generate_compliance_report", "max_violations_huge", {"max_violations": 10**9}),
    ("export_violations_csv", "limit_over_max", {"limit": 5001}),
    ("export_violations_csv", "limit_zero", {"limit": 0}),
    ("get_cost_attribution_gap", "period_month_13", {"period": "2025-13"}),
    ("get_cost_attribution_gap", "period_full_date", {"period": "2025-01-01"}),
    ("get_cost_attribution_gap", "period_sql", {"period": "2025-01' OR 1=1"}),
    ("get_cost_attribution_gap", "period_arabic_digits", {"period": "٢٠٢٥-٠١"}),
    ("get_cost_attribution_gap", "period_int", {"period": 202501}),
    ("get_violation_history", "granularity_hour", {"granularity": "hour"}),
    ("get_violation_history", "since_not_a_date", {"since": "yesterday"}),
    ("get_violation_history", "since_impossible", {"since": "2025-02-30"}),
    ("get_violation_history", "since_year_zero", {"since": "0000-01-01"}),
    ("get_violation_history", "since_injection", {"since": "2025-01-01'; --"}),
    ("detect_tag_drift", "from_scan_zero", {"from_scan": 0}),
    ("detect_tag_drift", "from_scan_string", {"from_scan": "latest"}),
    ("detect_tag_drift", "to_scan_huge", {"to_scan": 10**30}),
    ("detect_tag_drift", "limit_zero", {"limit": 0}),
    ("detect_tag_drift", "cursor_forged", {"cursor": "forged-cursor"}),
    ("list_scans", "limit_over_max", {"limit": 501}),
    ("list_scans", "cursor_int", {"cursor": 10}),
    ("start_scan", "unregistered_account", {"account_ids": [UNREGISTERED_ACCOUNT]}),
    ("start_scan", "unknown_type", {"resource_types": ["ec2:everything"]}),
    ("start_scan", "region_wildcard", {"regions": ["*"]}),
]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [pytest.param(tool, arguments, id=f"{tool}-{name}") for tool, name, arguments in SPECIFIC],
)
def test_tool_specific_bad_arguments_are_refused(
    mcp: McpClient, estate: Estate, tool: str, arguments: Any
) -> None:
    before = Snapshot.take()
    reply = mcp.request(tool_call(tool, arguments), key=estate.keys["alice"])
    # A lone surrogate is refused by the SDK's JSON parser (400) before any tool runs.
    event = assert_mcp_refused(reply, before, statuses={200, 400})
    assert event.target in {tool, "/mcp"}


ACCOUNT_TOOLS = sorted(tool for tool in TOOLS if "account_ids" in _fields(tool))
ARN_TOOLS = sorted(tool for tool in TOOLS if "resource_arn" in _fields(tool))
OTHER_ACCOUNT_FORMS: list[tuple[str, list[str]]] = [
    ("other_account", [OTHER_ACCOUNT]),
    ("own_and_other_account", ["123456789012", OTHER_ACCOUNT]),
    ("unregistered_account", [UNREGISTERED_ACCOUNT]),
]


@pytest.mark.parametrize(
    ("tool", "account_ids"),
    [
        pytest.param(tool, ids, id=f"{tool}-{name}")
        for tool in ACCOUNT_TOOLS
        for name, ids in OTHER_ACCOUNT_FORMS
    ],
)
def test_cross_account_reads_by_account_id_are_refused(
    mcp: McpClient, estate: Estate, tool: str, account_ids: list[str]
) -> None:
    before = Snapshot.take()
    reply = mcp.request(tool_call(tool, {"account_ids": account_ids}), key=estate.keys["alice"])
    event = assert_mcp_refused(reply, before, statuses={200})
    assert OTHER_ACCOUNT not in reply.text or "not visible" in reply.text
    assert event.actor == estate.alice


@pytest.mark.parametrize("tool", ARN_TOOLS)
def test_cross_account_reads_by_arn_are_refused(mcp: McpClient, estate: Estate, tool: str) -> None:
    before = Snapshot.take()
    reply = mcp.request(tool_call(tool, {"resource_arn": OTHER_ARN}), key=estate.keys["alice"])
    event = assert_mcp_refused(reply, before, statuses={200})
    assert "not visible" in reply.text or "not found" in reply.text
    assert '"Owner"' not in reply.text  # nothing of the other account's resource
    assert event.actor == estate.alice
