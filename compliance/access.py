"""Who may see which AWS accounts: the one place that decides it.

Every selector starts from :func:`visible_accounts`, so no page, tool or export can forget the
per-account grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db.models import Q, QuerySet

from compliance.models import AwsAccount


@dataclass(frozen=True, slots=True)
class Operator:
    """Someone with shell access to the server (management commands): sees every account.

    Having the server's shell already means having its database credentials, so narrowing the
    view here would protect nothing; it is explicit so that no code path gets it by accident.
    """

    label: str = "cli"


Viewer: TypeAlias = AbstractBaseUser | AnonymousUser | Operator


def sees_all_accounts(viewer: Viewer) -> bool:
    if isinstance(viewer, Operator):
        return True
    if not viewer.is_authenticated or not viewer.is_active:
        return False
    return isinstance(viewer, PermissionsMixin) and viewer.has_perm("compliance.view_all_accounts")


def visible_accounts(viewer: Viewer) -> QuerySet[AwsAccount]:
    accounts = AwsAccount.objects.all()
    if sees_all_accounts(viewer):
        return accounts
    if isinstance(viewer, Operator) or not viewer.is_authenticated or not viewer.is_active:
        return accounts.none()
    return accounts.filter(
        Q(grants__user_id=viewer.pk) | Q(grants__group__user__id=viewer.pk)
    ).distinct()


def viewer_label(viewer: Viewer) -> str:
    if isinstance(viewer, Operator):
        return viewer.label
    if not viewer.is_authenticated:
        return "anonymous"
    return str(viewer.get_username())
