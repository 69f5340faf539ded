"""AWS access for the scanner: read-only inventory collection, the only code importing boto3."""

from __future__ import annotations

from compliance.aws.collectors import COLLECTORS, GLOBAL_TYPES, RESOURCE_TYPES
from compliance.aws.inventory import collect_inventory, required_iam_actions
from compliance.aws.regions import known_regions

__all__ = [
    "COLLECTORS",
    "GLOBAL_TYPES",
    "RESOURCE_TYPES",
    "collect_inventory",
    "known_regions",
    "required_iam_actions",
]
