"""The three dashboard roles, as Django groups holding model permissions.

Roles say what someone may *do* (the actions of ``compliance.permissions.rules`` name the
permission each needs); which accounts they may *see* is decided separately by the account
grants (``compliance.permissions.accounts``). An admin may still be granted only some
accounts, unless they hold ``view_all_accounts``, which the admin role includes.

The groups are (re)created after every ``migrate`` with exactly these permissions, so an
upgrade that adds a permission to a role reaches existing installs. Permissions added to a
role group by hand in the admin are removed at the next migrate: grant extra permissions to
users or to other groups instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, Permission, PermissionsMixin
from django.db import transaction


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"


#: Reading the dashboard: every page except the security checklist.
VIEW = "compliance.view_resource"
#: CSV and policy exports.
EXPORT = "compliance.export_data"
#: "Scan now" on the dashboard and ``start_scan`` over MCP (with the key's ``scan`` scope).
START_SCAN = "compliance.add_scan"
#: The security checklist page (and the MCP tool ``get_security_checklist``).
VIEW_CHECKLIST = "compliance.view_checklistresult"

_VIEWER = [
    "compliance.view_awsaccount",
    "compliance.view_taggingpolicy",
    "compliance.view_scan",
    "compliance.view_resource",
    "compliance.view_tagchange",
    "compliance.view_violation",
    "compliance.view_compliancesnapshot",
    "compliance.view_billingimport",
    "compliance.view_costline",
    "compliance.view_costexplorerfigure",
    "compliance.view_exemption",
    "compliance.view_allocationrule",
    "compliance.view_sharedcostrule",
    "compliance.view_allocationversion",
]
_ANALYST = [*_VIEWER, EXPORT, START_SCAN]
_ADMIN = [
    *_ANALYST,
    "compliance.view_all_accounts",
    "compliance.add_awsaccount",
    "compliance.change_awsaccount",
    "compliance.add_taggingpolicy",
    "compliance.add_billingimport",
    "compliance.add_allocationrule",
    "compliance.change_allocationrule",
    "compliance.delete_allocationrule",
    "compliance.add_sharedcostrule",
    "compliance.change_sharedcostrule",
    "compliance.delete_sharedcostrule",
    "compliance.add_exemption",
    "compliance.change_exemption",
    "compliance.delete_exemption",
    "compliance.view_accountaccess",
    "compliance.add_accountaccess",
    "compliance.change_accountaccess",
    "compliance.delete_accountaccess",
    "compliance.view_auditevent",
    "compliance.view_checklistrun",
    "compliance.view_checklistresult",
    "compliance.run_checklist",
    "compliance.view_attestation",
    "compliance.add_attestation",
    "compliance.view_lockdownstate",
    "compliance.change_lockdownstate",
    "mcp_endpoint.view_apikey",
    "mcp_endpoint.add_apikey",
    "mcp_endpoint.change_apikey",
    "auth.view_user",
    "auth.change_user",
    "auth.view_group",
]

ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.VIEWER: _VIEWER,
    Role.ANALYST: _ANALYST,
    Role.ADMIN: _ADMIN,
}


def _permissions(names: list[str], existing: dict[str, Permission]) -> list[Permission] | None:
    """The permissions named, or None while some do not exist yet."""
    found = [existing[name] for name in names if name in existing]
    return found if len(found) == len(set(names)) else None


def ensure_roles(**_: Any) -> None:
    """Create or update the role groups; connected to ``post_migrate``.

    ``post_migrate`` is sent once per app and each app's permissions are created by its own
    signal, so early calls can find some permissions missing: they change nothing, and the call
    after the last app's signal completes the groups.
    """
    existing = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type")
    }
    with transaction.atomic():
        for role, names in ROLE_PERMISSIONS.items():
            permissions = _permissions(names, existing)
            if permissions is None:
                return
            group, _created = Group.objects.get_or_create(name=role.value)
            group.permissions.set(permissions)


def assign_role(user: AbstractBaseUser, role: Role | None) -> None:
    """Make ``role`` the user's only role (None: no role); admins also get into the admin
    site, and lose it with the role. Superusers keep theirs."""
    if not isinstance(user, PermissionsMixin):
        raise TypeError("roles apply to users with groups")
    groups = {g.name: g for g in Group.objects.filter(name__in=[r.value for r in Role])}
    user.groups.remove(*[g for name, g in groups.items() if role is None or name != role.value])
    if role is not None:
        user.groups.add(groups[role.value])
    staff = role is Role.ADMIN or bool(getattr(user, "is_superuser", False))
    if getattr(user, "is_staff", None) != staff:
        get_user_model()._default_manager.filter(pk=user.pk).update(is_staff=staff)
        user.is_staff = staff  # type: ignore[attr-defined]


def role_of(user: AbstractBaseUser) -> Role | None:
    """The highest role the user holds through their groups, None without one."""
    if not isinstance(user, PermissionsMixin):
        return None
    held = set(user.groups.values_list("name", flat=True))
    for role in (Role.ADMIN, Role.ANALYST, Role.VIEWER):
        if role.value in held:
            return role
    return None


def role_needed(permission: str) -> Role | None:
    """The lowest role that holds ``permission`` (None: no role does)."""
    for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN):
        if permission in ROLE_PERMISSIONS[role]:
            return role
    return None
