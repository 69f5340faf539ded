"""The checklist knows the MCP endpoint only through what the endpoint registered: it imports
neither the ASGI module nor the endpoint, and without the registration it says it cannot tell."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from compliance.checklist import facts
from compliance.checklist.base import Context, Status
from compliance.checklist.evaluation import default_session_for, evaluate_item
from compliance.checklist.items import ITEMS_BY_ID

CHECKLIST = Path(__file__).resolve().parents[2] / "compliance" / "checklist"
FORBIDDEN = ("finops_site.asgi", "mcp_endpoint")


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every module an ``import`` names, at module level or inside a function."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_checklist_imports_neither_the_asgi_module_nor_the_mcp_endpoint() -> None:
    sources = sorted(CHECKLIST.rglob("*.py"))
    assert CHECKLIST / "local_checks.py" in sources
    offending = {
        f"{path.relative_to(CHECKLIST)}: {name}"
        for path in sources
        for name in _imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if _forbidden(name)
    }
    assert offending == set()


def test_the_guard_catches_imports_inside_functions_and_of_the_asgi_module() -> None:
    tree = ast.parse(
        "from finops_site import asgi\n"
        "def f():\n    from mcp_endpoint.models import ApiKey\n    import finops_site.urls\n"
    )
    assert [n for n in _imported_modules(tree) if _forbidden(n)] == [
        "finops_site.asgi",
        "mcp_endpoint.models",
        "mcp_endpoint.models.ApiKey",
    ]


def test_the_mcp_endpoint_registers_its_path_at_start_up() -> None:
    endpoint = facts.mcp_endpoint()
    assert endpoint is not None
    assert endpoint.path == "/mcp"


def check(item_id: str) -> Any:
    ctx = Context(now=timezone.now(), session_for=default_session_for)
    return evaluate_item(ITEMS_BY_ID[item_id], ctx)


@pytest.fixture
def unregistered(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if mcp_endpoint were not installed: nothing registered."""
    monkeypatch.setattr(facts, "_mcp_endpoint", None)


def test_without_the_endpoint_authentication_is_unknown_and_the_pages_still_asked(
    transactional_db: None, unregistered: None
) -> None:
    result = check("auth.required")
    assert result.status == Status.UNKNOWN
    assert result.evidence.startswith(
        "Anonymous requests refused: GET / -> 302, GET /admin/ -> 302"
    )
    assert "/mcp" not in result.evidence


def test_without_the_endpoint_api_key_age_is_unknown(db: None, unregistered: None) -> None:
    result = check("credentials.api_key_age")
    assert result.status == Status.UNKNOWN
    assert "API keys are unknown" in result.evidence


class _OtherJsonFormatter(logging.Formatter):
    """A JSON-lines formatter from somewhere else than the MCP endpoint."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"msg": record.getMessage(), **getattr(record, "security", {})})


def test_security_logs_pass_with_any_formatter_that_writes_json_lines(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_OtherJsonFormatter())
    monkeypatch.setattr(logging.getLogger("security"), "handlers", [handler])
    result = check("monitoring.security_logs")
    assert result.status == Status.PASS
    assert "JSON lines through StreamHandler" in result.evidence


def test_security_logs_fail_with_json_that_drops_the_event_fields(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter('{"message": "%(message)s"}'))
    monkeypatch.setattr(logging.getLogger("security"), "handlers", [handler])
    assert check("monitoring.security_logs").status == Status.FAIL
