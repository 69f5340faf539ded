"""Tool arguments are held to the published input schema exactly: no type coercion.

The cases are drawn from the registered tools' own ``inputSchema``, so a tool added later with
an integer or boolean field is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from django.contrib.auth.models import User
from mcp import Client

from compliance.models import AuditEvent
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import build_server
from mcp_endpoint.tools import TOOLS
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post

#: Values of the wrong JSON type that a lax validator would turn into the right one.
WRONG_VALUES: dict[str, tuple[tuple[Any, str], ...]] = {
    "integer": (("1", "string"), (True, "boolean"), (2.5, "number")),
    "boolean": (("yes", "string"), ("true", "string"), (1, "integer")),
}
EXPECTED = {"integer": "an integer", "boolean": "a boolean (true or false)"}


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property accepts, ``anyOf`` branches included (``int | None``)."""
    types = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for branch in schema.get("anyOf", []):
        types |= _json_types(branch)
    return types


#: A valid value for each required field a tool may have: a case sends these beside the field
#: of the wrong type, so that the refusal names that field alone.
REQUIRED_EXAMPLES: dict[str, Any] = {"tag_key": "Owner"}


def _required(tool: str) -> dict[str, Any]:
    schema = TOOLS[tool].input_model.model_json_schema(by_alias=True)
    missing = set(schema.get("required", [])) - set(REQUIRED_EXAMPLES)
    assert not missing, f"give REQUIRED_EXAMPLES a valid value for {tool}: {sorted(missing)}"
    return {name: REQUIRED_EXAMPLES[name] for name in schema.get("required", [])}


def _arguments(tool: str, field: str, value: Any) -> dict[str, Any]:
    return {**_required(tool), field: value}


def _typed_fields() -> list[tuple[str, str, str]]:
    """(tool, field, JSON type) for every integer and boolean field of every tool."""
    found = []
    for name, spec in sorted(TOOLS.items()):
        schema = spec.input_model.model_json_schema(by_alias=True)
        for field, prop in sorted(schema.get("properties", {}).items()):
            for kind in sorted(_json_types(prop) & set(WRONG_VALUES)):
                found.append((name, field, kind))
    return found


CASES = [
    pytest.param(tool, field, kind, value, got, id=f"{tool}.{field}={value!r}")
    for tool, field, kind in _typed_fields()
    for value, got in WRONG_VALUES[kind]
]


def test_the_tools_have_integer_and_boolean_fields_to_check() -> None:
    kinds = {kind for _tool, _field, kind in _typed_fields()}
    assert kinds == {"integer", "boolean"}
    assert ("list_scans", "limit", "integer") in _typed_fields()
    assert ("find_untagged_resources", "include_wrong_case", "boolean") in _typed_fields()


@pytest.fixture
def key(alice_t: User, settings: Any) -> str:
    settings.MCP_RATE_LIMIT_PER_MINUTE = 10_000
    settings.MCP_MAX_CALLS_PER_HOUR = 10_000
    return make_key(alice_t, scopes=["read", "scan"])


@pytest.mark.parametrize(("tool", "field", "kind", "value", "got"), CASES)
def test_a_value_of_the_wrong_json_type_is_refused_over_http(
    key: str, tool: str, field: str, kind: str, value: Any, got: str
) -> None:
    status, body, _ = post(tool_call(tool, _arguments(tool, field, value)), key=key)
    assert status == 200
    result = body["result"]
    assert result["isError"] is True
    message = result["structuredContent"]["error"]["message"]
    assert message == f"invalid arguments for {tool}: {field}: expected {EXPECTED[kind]}, got {got}"
    event = AuditEvent.objects.filter(event_type="mcp.denied").latest("id")
    assert (event.target, event.outcome, event.detail["limit"]) == (tool, "denied", "schema")
    assert event.detail["arguments"] == _arguments(tool, field, value)


def test_the_right_json_type_is_accepted(key: str) -> None:
    _status, body, _ = post(tool_call("list_scans", {"limit": 3}), key=key)
    assert body["result"]["isError"] is False
    _status, body, _ = post(
        tool_call("find_untagged_resources", {"include_wrong_case": True}), key=key
    )
    assert body["result"]["isError"] is False


def test_a_date_is_still_accepted_as_the_string_json_spells_it(key: str) -> None:
    _status, body, _ = post(tool_call("get_violation_history", {"since": "2024-01-01"}), key=key)
    assert body["result"]["isError"] is False


def test_unknown_fields_stay_refused(key: str) -> None:
    _status, body, _ = post(tool_call("list_scans", {"limit": 3, "page": 2}), key=key)
    message = body["result"]["structuredContent"]["error"]["message"]
    assert message == (
        "invalid arguments for list_scans: page: unknown field (not in the tool's input schema)"
    )


def test_stdio_refuses_every_wrong_type_the_same_way(transactional_db: None, alice_t: User) -> None:
    server = build_server(local_caller=Caller.for_local_user(alice_t))

    async def main() -> list[tuple[str, bool, str]]:
        answers = []
        async with Client(server) as client:
            for case in CASES:
                tool, field, _kind, value, _got = case.values
                arguments = _arguments(str(tool), str(field), value)
                result = await client.call_tool(str(tool), arguments)
                text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
                answers.append((str(tool), result.is_error, text))
        return answers

    answers = anyio.run(main)
    assert len(answers) == len(CASES)
    for (tool, is_error, text), case in zip(answers, CASES, strict=True):
        _tool, field, kind, _value, got = case.values
        assert is_error, (tool, field)
        expected = EXPECTED[str(kind)]
        assert text == f"invalid arguments for {tool}: {field}: expected {expected}, got {got}"
    refused = AuditEvent.objects.filter(event_type="mcp.denied", interface="stdio").count()
    assert refused == len(CASES)


def test_every_violation_type_may_be_asked_for_at_once() -> None:
    from compliance.core.policy import VIOLATION_TYPES
    from mcp_endpoint.tools.compliance_tools import ComplianceInput

    asked = ComplianceInput.model_validate({"violation_types": list(VIOLATION_TYPES)})
    assert asked.violation_types == list(VIOLATION_TYPES)
