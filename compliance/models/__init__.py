"""The shared data model: one set of tables behind the dashboard, the MCP endpoint and the CLI."""

from __future__ import annotations

from compliance.models.audit import AuditEvent
from compliance.models.costs import BillingImport, CostExplorerFigure, CostLine
from compliance.models.exemptions import MAX_EXEMPTION_LIFETIME, Exemption
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
    "MAX_EXEMPTION_LIFETIME",
    "AccountAccess",
    "AuditEvent",
    "AwsAccount",
    "BillingImport",
    "ComplianceSnapshot",
    "CostExplorerFigure",
    "CostLine",
    "Exemption",
    "Resource",
    "Scan",
    "ScanItem",
    "TagChange",
    "TaggingPolicy",
    "Violation",
]
