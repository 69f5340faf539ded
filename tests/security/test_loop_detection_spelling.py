"""Loop detection counts what a call asks, not how its arguments are spelled.

An assistant stuck in a loop rephrases: it reorders keys and lists, repeats an account, or
spells out a default it left out before. Each of these is the same call and counts as one.
"""

# The MCP endpoint's fixtures (accounts, alice_t, alice_key, scanned) are imported to be used.
# ruff: noqa: F401, F811

from __future__ import annotations

from typing import Any

import pytest

from compliance.models import AuditEvent
from tests.compliance.test_scans import ACCOUNT
from tests.conftest import mocked_aws
from tests.mcp_endpoint.conftest import accounts, alice_key, alice_t, scanned, tool_call
from tests.mcp_endpoint.test_auth import post

REGIONS = ["eu-west-1", "us-east-1"]


@pytest.fixture
def twice(settings: Any) -> None:
    """The third identical call is a loop."""
    settings.MCP_MAX_IDENTICAL_CALLS = 2


def _refused_as_loop(body: dict[str, Any]) -> bool:
    error = body["result"]["structuredContent"].get("error") or {}
    return bool(body["result"]["isError"]) and error.get("limit") == "loop_detected"


def _calls(key: str, tool: str, spellings: list[dict[str, Any]]) -> list[bool]:
    return [_refused_as_loop(post(tool_call(tool, args), key=key)[1]) for args in spellings]


def test_reordered_lists_and_keys_are_the_same_call(alice_key: str, twice: None) -> None:
    spellings: list[dict[str, Any]] = [
        {"account_ids": [ACCOUNT], "regions": REGIONS},
        {"regions": list(reversed(REGIONS)), "account_ids": [ACCOUNT]},
        {"regions": [REGIONS[1], REGIONS[0], REGIONS[1]], "account_ids": [ACCOUNT, ACCOUNT]},
    ]
    assert _calls(alice_key, "check_tag_compliance", spellings) == [False, False, True]
    event = AuditEvent.objects.filter(event_type="mcp.denied").latest("id")
    assert (event.target, event.detail["limit"]) == ("check_tag_compliance", "loop_detected")


def test_an_omitted_argument_equals_its_default(alice_key: str, twice: None) -> None:
    spellings: list[dict[str, Any]] = [{}, {"limit": 20}, {"limit": 20, "cursor": None}]
    assert _calls(alice_key, "list_scans", spellings) == [False, False, True]


def test_a_default_spelled_out_in_a_boolean_field_is_the_same_call(
    alice_key: str, twice: None
) -> None:
    spellings: list[dict[str, Any]] = [
        {"tag_names": ["Owner", "CostCenter"]},
        {"tag_names": ["CostCenter", "Owner"], "include_wrong_case": False},
        {"include_wrong_case": False, "tag_names": ["Owner", "CostCenter"], "resource_types": []},
    ]
    assert _calls(alice_key, "find_untagged_resources", spellings) == [False, False, True]


def test_calls_that_ask_something_else_are_not_a_loop(alice_key: str, twice: None) -> None:
    spellings: list[dict[str, Any]] = [
        {"tag_names": ["Owner"]},
        {"tag_names": ["Owner"], "include_wrong_case": True},
        {"tag_names": ["owner"]},  # tag keys are case-sensitive: another question
        {"tag_names": ["Owner", "CostCenter"]},
    ]
    assert _calls(alice_key, "find_untagged_resources", spellings) == [False] * 4


def test_a_cursor_serves_the_same_query_spelled_another_way(scanned: Any, alice_key: str) -> None:
    """Paging shares the canonical form: the next page of the same question is the next page."""
    first = post(tool_call("check_tag_compliance", {"regions": REGIONS, "limit": 1}), key=alice_key)
    page = first[1]["result"]["structuredContent"]
    assert page["next_cursor"] is not None
    arguments = {"regions": list(reversed(REGIONS)), "limit": 1, "cursor": page["next_cursor"]}
    second = post(tool_call("check_tag_compliance", arguments), key=alice_key)[1]["result"]
    assert second["isError"] is False
    assert second["structuredContent"]["violations"] != page["violations"]
