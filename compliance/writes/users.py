"""A person's role, changed in the admin: checked, applied the way every role is (the role's
group, and the admin site for admins only), and audited."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.permissions import Action, Viewer
from compliance.permissions.roles import Role, assign_role
from compliance.writes.refusals import require


def do_change_role(
    user: AbstractBaseUser,
    role: Role | None,
    *,
    before: Role | None,
    acting: Viewer,
    interface: str = "admin",
) -> None:
    """Make ``role`` the user's only role (``before``: the role they held, for the log)."""
    target = str(user.get_username())
    require(acting, Action.MANAGE_USERS, interface=interface, target=target)
    with transaction.atomic():
        assign_role(user, role)
        audit.record(
            EventType.ROLE_CHANGED,
            acting=acting,
            interface=interface,
            target=target,
            detail={
                "from": before.value if before else None,
                "to": role.value if role else None,
                "source": interface,
            },
        )
