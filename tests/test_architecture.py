"""The architecture, checked where import contracts cannot see: who writes audit rows, and
faces that read models directly. (The import contracts themselves run in ``make check``:
``lint-imports`` with pyproject.toml's ``[tool.importlinter]``.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from compliance import audit
from compliance.audit.events import DESCRIPTIONS, EventType
from compliance.models import AuditEvent
from compliance.permissions import Operator

ROOT = Path(__file__).resolve().parent.parent
APPS = ("compliance", "mcp_endpoint", "finops_site")

#: Where the audit writer may be called: the writes, the audit package itself, and the two
#: MCP gates (the call gate writes each tool call's row; the HTTP gate the refused requests').
AUDIT_WRITERS = (
    "compliance/writes/",
    "compliance/audit/",
    "mcp_endpoint/server.py",
    "mcp_endpoint/http/",
)

#: The faces: they show what the reads return and never query a model's manager themselves.
FACES = ("compliance/views/", "mcp_endpoint/tools/")


def _sources() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def _audit_record_calls(tree: ast.AST) -> list[int]:
    """Lines calling ``audit.record(...)``, ``log.record(...)`` or a ``record`` imported from
    ``compliance.audit``."""
    imported_record = any(
        isinstance(node, ast.ImportFrom)
        and node.module in {"compliance.audit", "compliance.audit.log"}
        and any(alias.name == "record" for alias in node.names)
        for node in ast.walk(tree)
    )
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "record"
            and isinstance(func.value, ast.Name)
            and func.value.id in {"audit", "log"}
        ) or (imported_record and isinstance(func, ast.Name) and func.id == "record"):
            lines.append(node.lineno)
    return lines


def audit_call_sites() -> dict[str, list[int]]:
    found = {}
    for path in _sources():
        lines = _audit_record_calls(ast.parse(path.read_text(), str(path)))
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    return found


def test_the_audit_writer_is_called_from_the_writes_and_the_two_mcp_gates_only() -> None:
    sites = audit_call_sites()
    outside = {path: lines for path, lines in sites.items() if not path.startswith(AUDIT_WRITERS)}
    assert outside == {}
    # The scan itself: the finder sees the calls it must (a finder that found nothing would
    # pass the assertion above for any code).
    assert "compliance/writes/scans.py" in sites
    assert "mcp_endpoint/server.py" in sites


def test_the_call_site_finder_sees_each_spelling() -> None:
    tree = ast.parse(
        "from compliance import audit\n"
        "from compliance.audit import record\n"
        "audit.record(1)\n"
        "record(2)\n"
        "other.record(3)\n"
    )
    assert _audit_record_calls(tree) == [3, 4]


def _manager_uses(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"objects", "_default_manager"}
    ]


def test_faces_read_through_the_reads_never_a_model_manager() -> None:
    faces = [path for path in _sources() if str(path.relative_to(ROOT)).startswith(FACES)]
    uses = {
        str(path.relative_to(ROOT)): lines
        for path in faces
        if (lines := _manager_uses(ast.parse(path.read_text())))
    }
    assert uses == {}
    # The scan itself: both faces were read (a wrong folder name would pass the check above).
    read = {str(path.relative_to(ROOT)) for path in faces}
    assert {"compliance/views/overview.py", "mcp_endpoint/tools/scan_tools.py"} <= read


def test_the_manager_finder_sees_each_spelling() -> None:
    tree = ast.parse("Scan.objects.all()\nget_user_model()._default_manager.get()\nx.objectsy\n")
    assert _manager_uses(tree) == [1, 2]


def test_every_registered_event_type_reads_in_words() -> None:
    assert set(DESCRIPTIONS) == set(EventType)
    assert len({event.value for event in EventType}) == len(EventType)
    longest = AuditEvent._meta.get_field("event_type").max_length
    assert longest is not None
    assert all(len(event.value) <= longest for event in EventType)


@pytest.mark.django_db
def test_the_writer_refuses_an_event_type_nobody_registered() -> None:
    with pytest.raises(ValueError, match=re.escape("unregistered audit event type 'made.up'")):
        audit.record("made.up", acting=Operator())  # type: ignore[arg-type]
    assert not AuditEvent.objects.filter(event_type="made.up").exists()


@pytest.mark.django_db
def test_the_writer_stores_a_registered_event_type_by_its_name() -> None:
    row = audit.record(EventType.PERMISSION_DENIED, acting=Operator(), target="x")
    assert AuditEvent.objects.get(pk=row.pk).event_type == "auth.permission_denied"
