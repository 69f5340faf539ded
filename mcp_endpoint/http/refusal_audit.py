"""The audit row (and the security alert) of every refusal at ``/mcp``.

Every refusal the gate makes is first recorded, then answered, in that order and through
:class:`Refuser`, so that no refusal reaches a client without its audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from starlette.types import Send

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions.accounts import Viewer
from mcp_endpoint import monitoring
from mcp_endpoint.db import in_db_thread
from mcp_endpoint.http.jsonrpc_errors import Refusal, send_refusal
from mcp_endpoint.principal import Caller


@dataclass(frozen=True, slots=True)
class Alert:
    """A security event to count with a refusal (see :mod:`mcp_endpoint.monitoring`)."""

    kind: str
    source: str
    fields: dict[str, Any]


def audit_refusal(
    refusal: Refusal,
    *,
    acting: Viewer,
    correlation: str,
    address: str | None,
    key_prefix: str,
    client_id: str = "",
    tool: str = "",
    alert: Alert | None = None,
) -> None:
    if alert is not None:
        monitoring.note(alert.kind, alert.source, **alert.fields)
    event = EventType.CREDENTIAL_REFUSED if refusal.status == 401 else EventType.MCP_DENIED
    with transaction.atomic():
        audit.record(
            event,
            acting=acting,
            target=tool or "/mcp",
            outcome=AuditEvent.Outcome.DENIED,
            interface="mcp",
            correlation_id=correlation,
            client_address=address,
            detail={
                "status": refusal.status,
                "reason": refusal.audit_reason or refusal.reason,
                "key_prefix": key_prefix,
                **({"client_id": client_id} if client_id else {}),
                "error": refusal.message,
                **({"tool": tool} if tool else {}),
            },
        )


@dataclass(frozen=True, slots=True)
class Refuser:
    """What every audit row and answer of one request's refusals carries, gathered once."""

    send: Send
    correlation: str
    address: str | None

    async def refuse(
        self,
        refusal: Refusal,
        acting: Viewer,
        key_prefix: str = "",
        tool: str = "",
        client_id: str = "",
        alert: Alert | None = None,
    ) -> None:
        await self.record(
            refusal, acting, key_prefix=key_prefix, client_id=client_id, tool=tool, alert=alert
        )
        await send_refusal(self.send, refusal, self.correlation)

    async def refuse_input(self, caller: Caller, refusal: Refusal, tool: str = "") -> None:
        """Refuse an authenticated caller's request. A missing scope (403) is the credential's
        limit, not malformed input, so only the other refusals count as ``refused_input``."""
        alert = None
        if refusal.status != 403:
            alert = Alert(
                "refused_input",
                caller.subject,
                {"reason": refusal.reason, "client_address": caller.client_address},
            )
        await self.refuse(refusal, caller.viewer, caller.key_prefix, tool, caller.client_id, alert)

    async def record(
        self,
        refusal: Refusal,
        acting: Viewer,
        *,
        key_prefix: str = "",
        client_id: str = "",
        tool: str = "",
        alert: Alert | None = None,
    ) -> None:
        """The audit row alone: for the SDK's refusals, which the SDK has already answered."""
        await in_db_thread(
            audit_refusal,
            refusal,
            acting=acting,
            correlation=self.correlation,
            address=self.address,
            key_prefix=key_prefix,
            client_id=client_id,
            tool=tool,
            alert=alert,
        )
