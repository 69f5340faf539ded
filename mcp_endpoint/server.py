"""The MCP server: the SDK's ``MCPServer`` with our tools, and the gate every tool call passes.

A tool call goes: caller -> known tool -> scope -> input schema -> rate limit, hourly budget,
loop detection -> the tool, under a timeout -> one audit row, whatever the outcome. The gate is
an SDK server middleware, so the HTTP transport and stdio run exactly the same pipeline.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
from django.conf import settings
from django.db import connection, transaction
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from compliance import audit, incident
from compliance.models import AuditEvent
from mcp_endpoint import guards, monitoring
from mcp_endpoint.db import in_db_thread
from mcp_endpoint.events import McpEvent
from mcp_endpoint.principal import Caller
from mcp_endpoint.tools import SAFE_ERRORS, TOOLS, ToolCall, ToolSpec

logger = logging.getLogger(__name__)

#: Where the HTTP gate leaves the authenticated caller in the ASGI scope.
CALLER_SCOPE_KEY = "finops.caller"

INSTRUCTIONS = (
    "FinOps tag compliance for AWS. Call get_tagging_policy first to learn the required tags, "
    "then check_tag_compliance for the score and violations, find_untagged_resources for what "
    "to fix, get_cost_attribution_gap for the money involved. Answers come from the last "
    "finished scan (the `scan` block in every result says which, and whether it is complete)."
)

AUDIT_ARGUMENT_BYTES = 4096
_SECRET_NAMES = re.compile(
    r"(secret|token|password|passwd|authorization|api_?key|credential)", re.I
)
_KEY_LIKE = re.compile(r"ftc_[a-z2-7]{8}_[A-Za-z0-9_-]{20,}")


@dataclass
class _Running:
    """One call in flight, shared by the gate and the tool function it lets through."""

    spec: ToolSpec[Any]
    params: Any
    caller: Caller
    outcome: str = AuditEvent.Outcome.SUCCESS
    detail: dict[str, Any] = field(default_factory=dict)


_CURRENT: ContextVar[_Running | None] = ContextVar("mcp_endpoint_call", default=None)


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


def describe_validation_error(tool: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown field (not in the tool's input schema)")
        else:
            problems.append(f"{where}: {error['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


def _run_handler(spec: ToolSpec[Any], call: ToolCall, params: Any) -> dict[str, Any]:
    """The tool body, in a database thread; on PostgreSQL the timeout also binds the queries."""
    if connection.vendor != "postgresql":
        return spec.handler(call, params)
    with transaction.atomic():
        with connection.cursor() as cursor:
            timeout_ms = int(settings.MCP_TOOL_TIMEOUT_SECONDS * 1000)
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
        return spec.handler(call, params)


def _tool_function(spec: ToolSpec[Any]) -> Any:
    async def run(**_validated: Any) -> CallToolResult:
        running = _CURRENT.get()
        if running is None or running.spec is not spec:
            # Only reachable if the gate were bypassed: refuse rather than run unchecked.
            return _error_result("this tool can only be called through the MCP endpoint")
        call = ToolCall(
            viewer=running.caller.viewer,
            interface=running.caller.interface,
            correlation_id=running.caller.correlation_id,
        )
        try:
            result = await in_db_thread(_run_handler, spec, call, running.params)
        except SAFE_ERRORS as exc:
            running.outcome = AuditEvent.Outcome.DENIED
            running.detail["error"] = str(exc)
            return _error_result(f"{spec.name}: {exc}")
        except Exception:
            # Sanitised: no trace, path, SQL or secret leaves the server; the log has it all.
            running.outcome = AuditEvent.Outcome.ERROR
            running.detail["error"] = "internal error"
            logger.exception(
                "tool %s failed (correlation id %s)", spec.name, running.caller.correlation_id
            )
            return _error_result(
                f"{spec.name} failed with an internal error; the administrator can find it "
                f"under correlation id {running.caller.correlation_id}",
                correlation_id=running.caller.correlation_id,
            )
        text = json.dumps(result, default=str)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result
        )

    return run


def _as_sdk_tool(spec: ToolSpec[Any]) -> Tool:
    return Tool(
        fn=_tool_function(spec),
        name=spec.name,
        title=None,
        description=spec.description,
        parameters=spec.input_model.model_json_schema(by_alias=True),
        fn_metadata=FuncMetadata(arg_model=spec.input_model),
        is_async=True,
        context_kwarg=None,
        annotations=ToolAnnotations(
            read_only_hint=spec.read_only, destructive_hint=False, open_world_hint=False
        ),
    )


def _write_call_audit(
    caller: Caller, tool: str, arguments: Any, outcome: str, detail: dict[str, Any]
) -> None:
    with transaction.atomic():
        audit.record(
            McpEvent.CALL if outcome == AuditEvent.Outcome.SUCCESS else McpEvent.DENIED,
            acting=caller.viewer,
            target=tool[:200],
            outcome=AuditEvent.Outcome(outcome),
            interface=caller.interface,
            correlation_id=caller.correlation_id,
            client_address=caller.client_address,
            detail={
                "tool": tool[:200],
                "key_prefix": caller.key_prefix,
                **({"client_id": caller.client_id} if caller.client_id else {}),
                "arguments": _audit_arguments(arguments),
                **detail,
            },
        )


class CallGate:
    """SDK server middleware: runs every ``tools/call`` through the guards and the audit."""

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
        arguments = raw.get("arguments") or {}
        tool = name if isinstance(name, str) else repr(name)
        if caller is None:
            # The HTTP gate authenticates before the SDK sees a request; this is a safety net.
            return _error_result("not authenticated")
        started = time.monotonic()
        running: _Running | None = None
        try:
            if await in_db_thread(incident.mcp_locked_down):
                raise _Denied("lockdown", incident.LOCKDOWN_MESSAGE)
            spec = TOOLS.get(tool)
            if spec is None:
                raise _Denied(
                    "unknown_tool",
                    f"unknown tool {tool[:100]!r}; call tools/list for the tools offered",
                    alert="unknown_tool",
                )
            if spec.scope not in caller.scopes:
                raise _Denied("scope", missing_scope_message(caller, spec.scope, tool))
            if not isinstance(arguments, dict):
                raise _Denied("schema", f"invalid arguments for {tool}: expected an object")
            try:
                params = spec.input_model.model_validate(arguments)
            except ValidationError as exc:
                raise _Denied(
                    "schema", describe_validation_error(tool, exc), alert="refused_input"
                ) from None
            try:
                await in_db_thread(guards.check_call, caller, tool, arguments)
            except guards.Refusal as refusal:
                raise _Denied(
                    refusal.limit, refusal.message, alert="budget_exhausted", refusal=refusal
                ) from None
            running = _Running(spec=spec, params=params, caller=caller)
            token = _CURRENT.set(running)
            try:
                timeout = settings.MCP_TOOL_TIMEOUT_SECONDS
                with anyio.fail_after(timeout):
                    result = await call_next(ctx)
            except TimeoutError:
                running.outcome = AuditEvent.Outcome.ERROR
                running.detail["error"] = "timeout"
                result = _error_result(
                    f"tool timeout: {tool} took longer than {timeout} s "
                    "(MCP_TOOL_TIMEOUT_SECONDS); narrow the filters or use a smaller limit",
                    limit="tool_timeout",
                )
            finally:
                _CURRENT.reset(token)
            outcome, detail = running.outcome, running.detail
        except _Denied as denied:
            outcome = AuditEvent.Outcome.DENIED
            detail = {"limit": denied.limit, "error": denied.message}
            data = denied.refusal.as_dict() if denied.refusal else {"limit": denied.limit}
            result = _error_result(denied.message, **data)
            if denied.alert:
                await in_db_thread(
                    monitoring.note,
                    denied.alert,
                    caller.subject,
                    tool=tool[:100],
                    limit=denied.limit,
                    correlation_id=caller.correlation_id,
                    client_address=caller.client_address,
                )
        detail["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        await in_db_thread(_write_call_audit, caller, tool, arguments, outcome, detail)
        return result


@dataclass
class _Denied(Exception):
    limit: str
    message: str
    alert: str | None = None
    refusal: guards.Refusal | None = None


def build_server(local_caller: Caller | None = None) -> MCPServer[Any]:
    """A fresh server with every tool; ``local_caller`` is the identity of a stdio session."""
    return MCPServer(
        "finops-tag-compliance",
        instructions=INSTRUCTIONS,
        tools=[_as_sdk_tool(spec) for spec in TOOLS.values()],
        middleware=[CallGate(local_caller)],
        log_level="WARNING",
    )
