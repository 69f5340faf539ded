"""The audit log: one registry of event types, one writer."""

from __future__ import annotations

from compliance.audit.log import EventType, Outcome, record, storable

__all__ = ["EventType", "Outcome", "record", "storable"]
