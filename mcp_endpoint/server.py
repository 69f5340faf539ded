"""The MCP server: the SDK's ``MCPServer`` with our tools, and the gate every tool call passes.

A tool call goes: caller -> known tool -> scope -> input schema -> rate limit, hourly budget,
loop detection -> the caller's permission (role and scopes, by the one rule set) -> the tool,
under a timeout -> one audit row, whatever the outcome. The gate is
an SDK server middleware, so the HTTP transport and stdio run exactly the same pipeline.

The checks that need no database run on the event loop; the rest (the lockdown flag, the guard
counters, the tool, the audit row) runs in one step in a database thread, and on PostgreSQL the
audit row of a call that ran joins the tool's own transaction: one thread hop and one commit per
call, not one per stage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from compliance import audit
from compliance.audit.events import EventType
from compliance.core.untrusted import as_data
from compliance.models import AuditEvent
from compliance.permissions import Action, may, refusal_message
from compliance.permissions.accounts import one_answer
from compliance.reads import incident
from compliance.writes.untrusted_text import Sighting, do_record_untrusted_text
from mcp_endpoint import guards, monitoring
from mcp_endpoint.db import in_db_thread
from mcp_endpoint.principal import Caller
from mcp_endpoint.tools import SAFE_ERRORS, TOOLS, ToolCall, ToolSpec, untrusted

logger = logging.getLogger(__name__)

#: Where the HTTP gate leaves the authenticated caller in the ASGI scope.
CALLER_SCOPE_KEY = "finops.caller"

INSTRUCTIONS = (
    "FinOps tag compliance for AWS. Call get_tagging_policy first to learn the required tags, "
    "then check_tag_compliance for the score and violations, find_untagged_resources for what "
    "to fix, get_cost_attribution_gap for the money involved. Answers come from the last "
    "finished scan (the `scan` block in every result says which, and whether it is complete). "
    + untrusted.DATA_SENTENCE
)

AUDIT_ARGUMENT_BYTES = 4096
_SECRET_NAMES = re.compile(
    r"(secret|token|password|passwd|authorization|api_?key|credential)", re.I
)
_KEY_LIKE = re.compile(r"ftc_[a-z2-7]{8}_[A-Za-z0-9_-]{20,}")


def redact(value: Any) -> Any:
    """Arguments as the audit log keeps them: secret-looking fields and key-like strings masked."""
    if isinstance(value, dict):
        return {
            str(k): "[redacted]" if _SECRET_NAMES.search(str(k)) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _KEY_LIKE.sub("[redacted]", value)
    return value


def _audit_arguments(arguments: Any) -> Any:
    cleaned = redact(arguments)
    text = json.dumps(cleaned, sort_keys=True, default=str)
    if len(text) <= AUDIT_ARGUMENT_BYTES:
        return cleaned
    return {"truncated": True, "bytes": len(text), "head": text[:512]}


def _error_result(message: str, **data: Any) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=message)],
        structured_content={"error": {"message": message, **data}},
        is_error=True,
    )


def missing_scope_message(caller: Caller, scope: str, tool: str) -> str:
    return f"this {caller.credential} lacks the '{scope}' scope that {tool} needs"


#: The JSON type a strict type check wanted, by pydantic's error type.
_EXPECTED_TYPES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean (true or false)",
    "string_type": "a string",
    "float_type": "a number",
    "list_type": "an array",
    "dict_type": "an object",
    "date_type": "a date as a string (YYYY-MM-DD)",
}


def _json_type(value: Any) -> str:
    """The JSON type of a value as JSON Schema names it (``true`` is a boolean, not a number)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "array" if isinstance(value, list) else "object"


def describe_validation_error(tool: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field (not in the tool's input schema)")
        elif error["type"] in _EXPECTED_TYPES:
            # Values are never converted: the schema published in tools/list is the one held.
            problems.append(
                f"{where}: expected {_EXPECTED_TYPES[error['type']]}, "
                f"got {_json_type(error.get('input'))}"
            )
        else:
            problems.append(f"{where}: {error['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


@dataclass
class _Denied(Exception):
    limit: str
    message: str
    alert: str | None = None
    refusal: guards.Refusal | None = None
    #: The audit row's event type: a refusal by the rule set reads as it does on every face.
    event: EventType = EventType.MCP_DENIED
    action: Action | None = None


#: Who may write a call's audit row: the thread that ran the call, or the gate's timer.
_RUNNER = "runner"
_TIMER = "timer"


@dataclass
class _Call:
    """One ``tools/call`` in flight, from the gate to its audit row.

    Exactly one audit row per call: the database thread running the call writes it, unless the
    gate stopped waiting (``MCP_TOOL_TIMEOUT_SECONDS``) and wrote the timeout's row itself.
    Whichever of the two claims the call first writes; the other does not.
    """

    caller: Caller
    tool: str
    arguments: Any
    spec: ToolSpec[Any] | None = None
    params: Any = None
    denied: _Denied | None = None
    started: float = field(default_factory=time.monotonic)
    _claimed_by: str = ""
    _claim_lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, by: str) -> bool:
        """Whether ``by`` writes the audit row (again ``True`` for the one that already does)."""
        with self._claim_lock:
            if not self._claimed_by:
                self._claimed_by = by
            return self._claimed_by == by

    def record(self, outcome: str, detail: dict[str, Any], event: EventType | None = None) -> None:
        """Write the call's audit row, in the transaction open on this thread if there is one."""
        detail["duration_ms"] = round((time.monotonic() - self.started) * 1000, 1)
        caller = self.caller
        if event is None:
            success = outcome == AuditEvent.Outcome.SUCCESS
            event = EventType.MCP_CALL if success else EventType.MCP_DENIED
        with transaction.atomic(savepoint=False):
            audit.record(
                event,
                acting=caller.viewer,
                target=self.tool[:200],
                outcome=AuditEvent.Outcome(outcome),
                interface=caller.interface,
                correlation_id=caller.correlation_id,
                client_address=caller.client_address,
                detail={
                    "tool": self.tool[:200],
                    "key_prefix": caller.key_prefix,
                    **({"client_id": caller.client_id} if caller.client_id else {}),
                    "arguments": _audit_arguments(self.arguments),
                    **detail,
                },
            )


def _checked_input(call: _Call) -> tuple[ToolSpec[Any], Any]:
    """The tool and its validated input: the checks that need no database. A refusal here is
    still audited, after the lockdown check, like every other."""
    tool, arguments = call.tool, call.arguments
    spec = TOOLS.get(tool)
    if spec is None:
        raise _Denied(
            "unknown_tool",
            f"unknown tool {tool[:100]!r}; call tools/list for the tools offered",
            alert="unknown_tool",
        )
    if spec.scope not in call.caller.scopes:
        raise _Denied("scope", missing_scope_message(call.caller, spec.scope, tool))
    if not isinstance(arguments, dict):
        raise _Denied("schema", f"invalid arguments for {tool}: expected an object")
    try:
        return spec, spec.input_model.from_arguments(arguments)
    except ValidationError as exc:
        raise _Denied(
            "schema", describe_validation_error(tool, exc), alert="refused_input"
        ) from None


def _serve_call(call: _Call) -> CallToolResult:
    """The database part of a call, in one thread: lockdown, guards, the caller's permission
    (``compliance.permissions.rules``), the tool, its audit row."""
    try:
        if incident.mcp_locked_down():
            raise _Denied("lockdown", incident.LOCKDOWN_MESSAGE)
        if call.denied is not None:
            raise call.denied
        if call.caller.interface == "stdio":
            call.caller = call.caller.with_user_reloaded()  # the role as it is now
        try:
            # Before the permission: a refused call spends budget too, so refusals cannot be
            # repeated without limit (each writes an audit row).
            # Loop detection compares what calls mean (defaults filled in, filter lists as
            # sets), so the same call spelled differently still counts as the same call.
            arguments = call.params.canonical() if call.params is not None else call.arguments
            guards.check_call(call.caller, call.tool, arguments)
        except guards.Refusal as refusal:
            raise _Denied(
                refusal.limit, refusal.message, alert="budget_exhausted", refusal=refusal
            ) from None
        if call.spec is not None and not may(call.caller.viewer, call.spec.action):
            raise _Denied(
                "permission",
                f"{call.tool}: {refusal_message(call.caller.viewer, call.spec.action)}",
                event=EventType.PERMISSION_DENIED,
                action=call.spec.action,
            )
    except _Denied as denied:
        if denied.alert:
            monitoring.note(
                denied.alert,
                call.caller.subject,
                tool=call.tool[:100],
                limit=denied.limit,
                correlation_id=call.caller.correlation_id,
                client_address=call.caller.client_address,
            )
        if call.claim(_RUNNER):
            detail = {"limit": denied.limit, "error": denied.message}
            if denied.action is not None:
                detail["action"] = denied.action.value
            call.record(AuditEvent.Outcome.DENIED, detail, denied.event)
        data = denied.refusal.as_dict() if denied.refusal else {"limit": denied.limit}
        return _error_result(denied.message, **data)
    return _run_tool(call)


@contextmanager
def _tool_transaction() -> Iterator[None]:
    """On PostgreSQL the tool runs in a transaction whose statements the tool timeout binds,
    and which its audit row joins. SQLite takes its write lock when a transaction starts, so
    there a tool runs outside one and the audit row has its own."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            timeout_ms = int(settings.MCP_TOOL_TIMEOUT_SECONDS * 1000)
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
        yield


def _run_tool(call: _Call) -> CallToolResult:
    if call.spec is None:  # only calls that passed every check get here
        raise RuntimeError("tool call without a checked tool")
    spec, caller = call.spec, call.caller
    tool_call = ToolCall(
        viewer=caller.viewer, interface=caller.interface, correlation_id=caller.correlation_id
    )
    try:
        with _tool_transaction(), one_answer():
            try:
                answer = spec.handler(tool_call, call.params)
            except SAFE_ERRORS as exc:
                outcome, detail = AuditEvent.Outcome.DENIED, {"error": str(exc)}
                # A message may quote the caller's input: shown as data, like AWS text.
                result = _error_result(f"{spec.name}: {as_data(str(exc), _MESSAGE_LIMIT)}")
            else:
                outcome, detail = AuditEvent.Outcome.SUCCESS, {}
                answer = _as_data(call, answer)
                result = CallToolResult(
                    content=[TextContent(type="text", text=json.dumps(answer, default=str))],
                    structured_content=answer,
                )
            if call.claim(_RUNNER):
                call.record(outcome, detail)
        return result
    except Exception:
        # Sanitised: no trace, path, SQL or secret leaves the server; the log has it all.
        logger.exception("tool %s failed (correlation id %s)", spec.name, caller.correlation_id)
    # The transaction rolled back, with the audit row if it was in it: record the failure.
    if call.claim(_RUNNER):
        call.record(AuditEvent.Outcome.ERROR, {"error": "internal error"})
    return _internal_error(call)


#: Tools whose answers hold no text from AWS: the policy (the administrator's) and the security
#: checklist (ours, multi-line evidence). Their strings are left whole.
_OUR_TEXT_ONLY = frozenset({"get_tagging_policy", "get_security_checklist"})
#: Documents rendered for a format from rows already shown as data (``untrusted.DataView.rows``).
_DOCUMENTS = {
    "generate_compliance_report": "content",
    "export_violations_csv": "csv",
    "generate_custodian_policy": "policy",
}
_MESSAGE_LIMIT = 1024


def _as_data(call: _Call, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer with AWS text shown as data, and flagged text listed, audited and logged.

    A tool that renders a document passes the flags of its rows in ``untrusted_text_flagged``;
    they join those found here. Each flagged value of a resource is audited once ever
    (``compliance.writes.untrusted_text``), and logged on the ``security`` logger that time.
    """
    view = untrusted.DataView()
    view.flags.extend(answer.pop(untrusted.FLAGGED_FIELD, None) or [])
    if call.tool not in _OUR_TEXT_ONLY:
        keep = {"next_cursor", _DOCUMENTS.get(call.tool, "next_cursor")}
        answer = view.view(answer, keep=frozenset(keep))
    caller = call.caller
    new = do_record_untrusted_text(
        (
            Sighting(f.resource_arn, f.field, f.text, f.signals, f.text_sha256)
            for f in view.flags
            if f.resource_arn is not None
        ),
        shown_to=caller.viewer,
        interface=caller.interface,
        correlation_id=caller.correlation_id,
        client_address=caller.client_address,
    )
    for sighting in new:
        monitoring.logger.warning(
            "untrusted_text",
            extra={
                "security": {
                    "event": "untrusted_text",
                    "source": caller.subject,
                    "tool": call.tool,
                    "resource_arn": sighting.resource_arn,
                    "field": sighting.field,
                    "signals": list(sighting.signals),
                    "correlation_id": caller.correlation_id,
                    "client_address": caller.client_address,
                }
            },
        )
    return {**answer, untrusted.FLAGGED_FIELD: view.listed()}


def _internal_error(call: _Call) -> CallToolResult:
    return _error_result(
        f"{call.tool[:100]} failed with an internal error; the administrator can find it "
        f"under correlation id {call.caller.correlation_id}",
        correlation_id=call.caller.correlation_id,
    )


async def _within_timeout(call: _Call) -> CallToolResult:
    """Run the call's database part; past ``MCP_TOOL_TIMEOUT_SECONDS`` answer with a timeout.

    A thread cannot be stopped (on PostgreSQL the statement timeout stops its queries): it
    finishes on its own and, the timeout's row being written here, writes none. The task is
    never cancelled from here, so a call whose client went away is still audited.
    """
    running = asyncio.ensure_future(in_db_thread(_serve_call, call))
    timeout = settings.MCP_TOOL_TIMEOUT_SECONDS
    try:
        done, _pending = await asyncio.wait({running}, timeout=timeout)
        if done or not call.claim(_TIMER):
            return await running
    finally:
        if not running.done():
            running.add_done_callback(_log_late_failure)
    await in_db_thread(call.record, AuditEvent.Outcome.ERROR, {"error": "timeout"})
    return _error_result(
        f"tool timeout: {call.tool} took longer than {timeout} s "
        "(MCP_TOOL_TIMEOUT_SECONDS); narrow the filters or use a smaller limit",
        limit="tool_timeout",
    )


def _log_late_failure(task: asyncio.Future[CallToolResult]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a tool call failed after it was answered", exc_info=task.exception())


def _refused_outside_gate(spec: ToolSpec[Any]) -> Any:
    async def run(**_validated: Any) -> CallToolResult:
        # The call gate answers every tools/call itself; reaching the SDK's tool function means
        # the gate was bypassed: refuse rather than run unchecked.
        return _error_result(f"{spec.name} can only be called through the MCP endpoint")

    return run


def _as_sdk_tool(spec: ToolSpec[Any]) -> Tool:
    """The tool as ``tools/list`` shows it: name, description, input schema, hints."""
    return Tool(
        fn=_refused_outside_gate(spec),
        name=spec.name,
        title=None,
        # Every tool may answer with text from AWS: each description says how to read it.
        description=f"{spec.description} {untrusted.DATA_SENTENCE}",
        parameters=spec.input_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(arg_model=spec.input_model),
        is_async=True,
        context_kwarg=None,
        annotations=ToolAnnotations(
            read_only_hint=spec.read_only, destructive_hint=False, open_world_hint=False
        ),
    )


class CallGate:
    """SDK server middleware: answers every ``tools/call`` itself, through the guards and the
    audit; other methods go on to the SDK."""

    def __init__(self, local_caller: Caller | None = None) -> None:
        self.local_caller = local_caller

    def _caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller | None:
        scope = getattr(ctx.request, "scope", None)
        if isinstance(scope, dict):
            caller = scope.get(CALLER_SCOPE_KEY)
            return caller if isinstance(caller, Caller) else None
        if self.local_caller is not None:
            return self.local_caller.with_call(uuid.uuid4().hex)
        return None

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        caller = self._caller(ctx)
        raw = ctx.params or {}
        name = raw.get("name")
        tool = name if isinstance(name, str) else repr(name)
        if caller is None:
            # The HTTP gate authenticates before the SDK sees a request; this is a safety net.
            return _error_result("not authenticated")
        call = _Call(caller=caller, tool=tool, arguments=raw.get("arguments") or {})
        try:
            call.spec, call.params = _checked_input(call)
        except _Denied as denied:
            call.denied = denied
        try:
            return await _within_timeout(call)
        except Exception:
            # Past the tool's own handling: its audit row could not be written (the database
            # failing, say). The log keeps what the row would have said; the caller hears no
            # detail of the failure (the SDK would send the exception's text).
            logger.exception(
                "tools/call %s failed without its audit row (caller %s, client %s, "
                "correlation id %s)",
                tool[:100],
                caller.subject,
                caller.client_address,
                caller.correlation_id,
            )
            return _internal_error(call)


def build_server(local_caller: Caller | None = None) -> MCPServer[Any]:
    """A server with every tool; ``local_caller`` is the identity of a stdio session.

    Built once per process for HTTP (``finops_site.asgi``): it holds no per-caller state, the
    caller of each call comes with the request (see :class:`CallGate`).
    """
    return MCPServer(
        "finops-tag-compliance",
        instructions=INSTRUCTIONS,
        tools=[_as_sdk_tool(spec) for spec in TOOLS.values()],
        middleware=[CallGate(local_caller)],
        log_level="WARNING",
    )
