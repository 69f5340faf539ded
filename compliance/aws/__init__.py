"""AWS access for the scanner: read-only inventory collection, the only code importing boto3."""

from __future__ import annotations

from compliance.aws.collectors import COLLECTORS, GLOBAL_TYPES, RESOURCE_TYPES
from compliance.aws.inventory import collect_inventory, required_iam_actions

__all__ = [
    "COLLECTORS",
    "GLOBAL_TYPES",
    "RESOURCE_TYPES",
    "collect_inventory",
    "required_iam_actions",
]
