"""Account grants: who may see which AWS account (``compliance.permissions.accounts`` reads
them). Made in the admin; each change audited in its transaction."""

from __future__ import annotations

from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AccountAccess
from compliance.permissions import Action, Viewer
from compliance.writes.refusals import require


def do_grant_account_access(
    grant: AccountAccess, *, acting: Viewer, interface: str = "admin"
) -> AccountAccess:
    """Save a new or changed grant (validated by the admin's form)."""
    require(acting, Action.MANAGE_GRANTS, interface=interface, target=str(grant))
    with transaction.atomic():
        grant.save()
        audit.record(
            EventType.ACCESS_GRANTED, acting=acting, interface=interface, target=str(grant)
        )
    return grant


def do_revoke_account_access(
    grant: AccountAccess, *, acting: Viewer, interface: str = "admin"
) -> None:
    require(acting, Action.MANAGE_GRANTS, interface=interface, target=str(grant))
    with transaction.atomic():
        audit.record(
            EventType.ACCESS_REVOKED, acting=acting, interface=interface, target=str(grant)
        )
        grant.delete()
