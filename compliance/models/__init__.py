"""The shared data model: one set of tables behind the dashboard, the MCP endpoint and the CLI."""

from __future__ import annotations

from compliance.models.audit import AuditEvent
from compliance.models.inventory import (
    AccountAccess,
    AwsAccount,
    ComplianceSnapshot,
    Resource,
    Scan,
    ScanItem,
    TagChange,
    TaggingPolicy,
    Violation,
)

__all__ = [
    "AccountAccess",
    "AuditEvent",
    "AwsAccount",
    "ComplianceSnapshot",
    "Resource",
    "Scan",
    "ScanItem",
    "TagChange",
    "TaggingPolicy",
    "Violation",
]
