"""Every write goes through a ``do_<verb>_<noun>`` function here.

Each runs in one transaction and records its ``AuditEvent`` in that same transaction, so there is
no state change without its audit row. A refusal (bad input) is audited in a transaction of its
own and changes nothing else."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.contrib.auth.models import PermissionsMixin
from django.db import transaction

from compliance import audit
from compliance.aws import RESOURCE_TYPES
from compliance.models import (
    AuditEvent,
)
from compliance.permissions.accounts import (
    NarrowedViewer,
    Operator,
    Viewer,
)

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


#: ASCII digits only (``\\d`` would take any script's digits).
ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")


class ActionError(ValueError):
    """Bad input to an action: the message is safe to show to the person who asked."""


def _refuse(
    event_type: AuditEvent.EventType | str,
    message: str,
    *,
    acting: Viewer,
    target: str = "",
    interface: str = "cli",
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.DENIED,
) -> ActionError:
    """Audit a refused (or, with ``outcome=error``, failed) action; the error to raise."""
    with transaction.atomic():
        audit.record(
            event_type,
            acting=acting,
            target=target,
            outcome=outcome,
            interface=interface,
            detail={"error": message},
        )
    return ActionError(message)


def validate_regions(regions: Sequence[str]) -> list[str]:
    cleaned = []
    for region in regions:
        if not REGION_PATTERN.fullmatch(region):
            raise ActionError(f"regions: {region!r} is not an AWS region name (e.g. eu-west-1)")
        cleaned.append(region)
    return sorted(set(cleaned))


def validate_resource_types(types: Sequence[str]) -> list[str]:
    unknown = sorted(set(types) - set(RESOURCE_TYPES))
    if unknown:
        raise ActionError(
            f"types: unknown resource type(s) {', '.join(unknown)}; "
            f"supported: {', '.join(RESOURCE_TYPES)}"
        )
    return sorted(set(types))


MAX_FETCH_MONTHS = 12


def _may(acting: Viewer, permission: str) -> bool:
    """Operators may do anything; people need the model permission (the admin grants it),
    also when acting through a narrowed credential."""
    if isinstance(acting, Operator):
        return True
    user = acting.user if isinstance(acting, NarrowedViewer) else acting
    return isinstance(user, PermissionsMixin) and user.is_active and user.has_perm(permission)


# --- Account discovery and retention ------------------------------------------------------------
ACCOUNTS_DISCOVERED = "accounts.discovered"


RETENTION_PRUNED = "retention.pruned"


#: What AWS accepts as an external id.
EXTERNAL_ID_PATTERN = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
