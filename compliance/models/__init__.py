"""The shared data model: one set of tables behind the dashboard, the MCP endpoint and the CLI."""

from __future__ import annotations

from compliance.models.allocation import (
    AllocationRule,
    AllocationVersion,
    SharedCostRule,
    ShowbackFigure,
    ShowbackState,
)
from compliance.models.audit import AuditEvent
from compliance.models.billed import BilledResource
from compliance.models.checklist import (
    Attestation,
    ChecklistResult,
    ChecklistRun,
    ChecklistStatus,
    LockdownState,
)
from compliance.models.costs import BillingImport, CostExplorerFigure, CostLine
from compliance.models.exemptions import MAX_EXEMPTION_LIFETIME, Exemption
from compliance.models.inventory import (
    AccountAccess,
    AttributedCost,
    AwsAccount,
    ComplianceSnapshot,
    CostAttributionState,
    Resource,
    RuleSnapshot,
    Scan,
    ScanItem,
    ScanPartition,
    TagChange,
    TaggingPolicy,
    Violation,
)

__all__ = [
    "MAX_EXEMPTION_LIFETIME",
    "AccountAccess",
    "AllocationRule",
    "AllocationVersion",
    "Attestation",
    "AttributedCost",
    "AuditEvent",
    "AwsAccount",
    "BilledResource",
    "BillingImport",
    "ChecklistResult",
    "ChecklistRun",
    "ChecklistStatus",
    "ComplianceSnapshot",
    "CostAttributionState",
    "CostExplorerFigure",
    "CostLine",
    "Exemption",
    "LockdownState",
    "Resource",
    "RuleSnapshot",
    "Scan",
    "ScanItem",
    "ScanPartition",
    "SharedCostRule",
    "ShowbackFigure",
    "ShowbackState",
    "TagChange",
    "TaggingPolicy",
    "Violation",
]
