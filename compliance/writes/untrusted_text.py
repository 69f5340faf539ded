"""Instruction-like text from AWS seen in an MCP result: one security audit row per resource
and value, however often and by however many workers it is seen.

The detector (``compliance.core.untrusted.instruction_signals``) is a tripwire: a hit means
someone who may tag resources wrote text aimed at an AI assistant. The first time a resource's
value is seen, an audit row says which resource, which field, which signals and who was shown
it; later sightings add nothing, so a flagged resource read a thousand times stays one row for
incident response to find.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions.accounts import Viewer


@dataclass(frozen=True, slots=True)
class Sighting:
    """One flagged value of one resource, as shown in the result (revealed and cut)."""

    resource_arn: str
    field: str
    text: str
    signals: tuple[str, ...]
    #: Identifies the full value: the same value of the same resource is recorded once.
    text_sha256: str


def _lock(resource_arn: str, text_sha256: str) -> None:
    """On PostgreSQL, serialise the check-then-write for one (resource, value) across workers
    until the transaction ends; SQLite serialises every write already."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"{resource_arn}\0{text_sha256}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)]
        )


def _target(resource_arn: str) -> str:
    """The ARN as the audit row's ``target`` stores it."""
    return audit.storable(resource_arn[:2048])


def _recorded() -> QuerySet[AuditEvent, tuple[str, str]]:
    return AuditEvent.objects.filter(event_type=EventType.UNTRUSTED_TEXT.value).values_list(
        "target", "detail__text_sha256"
    )


def do_record_untrusted_text(
    sightings: Iterable[Sighting],
    *,
    shown_to: Viewer,
    interface: str,
    correlation_id: str = "",
    client_address: str | None = None,
) -> list[Sighting]:
    """Audit the sightings not audited before; returns those (the new ones), for the caller's
    security log line. Runs in the transaction open on this thread, if there is one."""
    unique = {(s.resource_arn, s.text_sha256): s for s in sightings}
    if not unique:
        return []
    # One query for the common case (every value seen before); a new one is checked again
    # under its lock, as another worker may be writing it at the same moment.
    seen_before = set(_recorded().filter(target__in={_target(arn) for arn, _ in unique}))
    new: list[Sighting] = []
    for (arn, text_sha256), sighting in unique.items():
        if (_target(arn), text_sha256) in seen_before:
            continue
        with transaction.atomic():
            _lock(arn, text_sha256)
            if _recorded().filter(target=_target(arn), detail__text_sha256=text_sha256).exists():
                continue
            audit.record(
                EventType.UNTRUSTED_TEXT,
                acting=shown_to,
                target=sighting.resource_arn,
                interface=interface,
                correlation_id=correlation_id,
                client_address=client_address,
                detail={
                    "field": sighting.field,
                    "text": sighting.text,
                    "signals": list(sighting.signals),
                    "text_sha256": sighting.text_sha256,
                },
            )
        new.append(sighting)
    return new
