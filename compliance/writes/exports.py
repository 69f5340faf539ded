"""Exports for other tools: each checked against the caller's rights and audited, whichever
face asks (dashboard download, MCP tool, command).

An export takes data out of the product, so it is an action of its own (``Action.EXPORT``,
the analyst role) even though it changes nothing: a viewer may read a figure on a page but
not carry the whole estate away in a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions import Action, Viewer
from compliance.reads import exports, reports
from compliance.reads.listings import ListingError
from compliance.reads.policy import active_policy
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.writes.refusals import require

T = TypeVar("T")

#: Refusals of the export itself (bad filters, nothing to export): audited as errors and raised.
EXPORT_ERRORS: tuple[type[Exception], ...] = (
    exports.ExportError,
    AccountNotVisible,
    ListingError,
)


def do_export(
    event: EventType,
    caller: Viewer,
    produce: Callable[[], T],
    *,
    interface: str = "cli",
    target: str = "",
    detail: dict[str, Any] | None = None,
    client_address: str | None = None,
    correlation_id: str = "",
) -> T:
    """``produce()``, if ``caller`` may export, with the export's audit row; a refusal or a
    failed export is audited too and raised."""
    require(
        caller,
        Action.EXPORT,
        interface=interface,
        target=target or event.value,
        client_address=client_address,
        correlation_id=correlation_id,
    )

    def record(outcome: AuditEvent.Outcome, details: dict[str, Any]) -> None:
        with transaction.atomic():
            audit.record(
                event,
                acting=caller,
                target=target or event.value,
                outcome=outcome,
                interface=interface,
                client_address=client_address,
                correlation_id=correlation_id,
                detail=details,
            )

    try:
        produced = produce()
    except EXPORT_ERRORS as exc:
        # Naming an account one may not see is a refusal; the rest (bad filters, nothing to
        # export) are exports that failed.
        refused = isinstance(exc, AccountNotVisible)
        outcome = AuditEvent.Outcome.DENIED if refused else AuditEvent.Outcome.ERROR
        record(outcome, {**(detail or {}), "error": str(exc)})
        raise
    record(AuditEvent.Outcome.SUCCESS, detail or {})
    return produced


def _filters(where: ResourceFilter) -> dict[str, list[str]]:
    return {
        "account_ids": list(where.account_ids),
        "regions": list(where.regions),
        "resource_types": list(where.resource_types),
    }


def do_export_violations_csv(
    caller: Viewer,
    where: ResourceFilter,
    columns: Sequence[str] | None = None,
    *,
    interface: str = "cli",
    client_address: str | None = None,
) -> str:
    return do_export(
        EventType.VIOLATIONS_EXPORTED,
        caller,
        lambda: exports.export_violations_csv(caller, where, columns),
        interface=interface,
        detail={"filters": _filters(where), "columns": list(columns or [])},
        client_address=client_address,
    )


def do_generate_custodian_policy(
    caller: Viewer,
    where: ResourceFilter,
    *,
    interface: str = "cli",
    client_address: str | None = None,
    correlation_id: str = "",
) -> str:
    return do_export(
        EventType.CUSTODIAN_EXPORTED,
        caller,
        lambda: exports.custodian_policy(caller, where),
        interface=interface,
        detail={"filters": _filters(where)},
        client_address=client_address,
        correlation_id=correlation_id,
    )


def do_export_aws_tag_policy(
    caller: Viewer, *, interface: str = "cli", client_address: str | None = None
) -> str:
    """The active policy as an AWS Organizations tag policy."""
    active = active_policy()
    return do_export(
        EventType.POLICY_EXPORTED,
        caller,
        lambda: exports.aws_org_policy(caller),
        interface=interface,
        target="aws-tag-policy",
        detail={"format": "aws_org", "policy_version": active.version if active else None},
        client_address=client_address,
    )


def do_generate_report(
    caller: Viewer,
    where: ResourceFilter,
    *,
    interface: str = "cli",
    correlation_id: str = "",
) -> dict[str, Any]:
    """The compliance report's content (``compliance.reads.reports``), for any renderer."""
    return do_export(
        EventType.REPORT_GENERATED,
        caller,
        lambda: reports.build_report(caller, where),
        interface=interface,
        detail={"filters": _filters(where)},
        correlation_id=correlation_id,
    )
