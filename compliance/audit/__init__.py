"""The audit log: one registry of event types, one writer."""

from __future__ import annotations

from compliance.audit.events import EventType
from compliance.audit.log import Outcome, record, storable

__all__ = ["EventType", "Outcome", "record", "storable"]
