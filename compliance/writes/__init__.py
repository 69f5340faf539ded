"""Every state change, as ``do_<verb>_<noun>`` in ``writes/<noun>.py``: each checks the
caller's permission (``refusals.require``), runs in one transaction and writes its audit row
in it; a refusal is audited too (``refusals``)."""

from __future__ import annotations

from compliance.writes.accounts import do_add_account, do_discover_accounts
from compliance.writes.costs import do_fetch_costs, do_import_costs
from compliance.writes.exemptions import do_create_exemption, do_remove_exemption
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import (
    ACCOUNT_ID_PATTERN,
    EXTERNAL_ID_PATTERN,
    MAX_FETCH_MONTHS,
    REGION_PATTERN,
    ActionError,
    validate_regions,
    validate_resource_types,
)
from compliance.writes.retention import do_prune
from compliance.writes.scans import do_request_scan, do_start_scan

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "EXTERNAL_ID_PATTERN",
    "MAX_FETCH_MONTHS",
    "REGION_PATTERN",
    "ActionError",
    "do_add_account",
    "do_create_exemption",
    "do_discover_accounts",
    "do_fetch_costs",
    "do_import_costs",
    "do_import_policy",
    "do_prune",
    "do_remove_exemption",
    "do_request_scan",
    "do_start_scan",
    "validate_regions",
    "validate_resource_types",
]
