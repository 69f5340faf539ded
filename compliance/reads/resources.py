"""The inventory as one caller may see it: accounts in scope, resources, violations and
exemptions. Every other read starts here, so no page, tool or export can forget the grants.

Each function takes the caller first and narrows to the accounts that caller may see
(``compliance.permissions.accounts``): an account the caller may not see is refused with the
words used for one that does not exist (:class:`AccountNotVisible`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.models import (
    AwsAccount,
    Exemption,
    Resource,
    Violation,
)
from compliance.permissions.accounts import (
    Viewer,
    visible_accounts,
)
from compliance.reads.policy import active_policy


class AccountNotVisible(PermissionError):
    """The viewer asked for an account that does not exist or that they may not see.

    Both cases get the same message, so a viewer cannot probe which account ids exist.
    """


@dataclass(frozen=True, slots=True)
class ResourceFilter:
    account_ids: Sequence[str] = ()
    regions: Sequence[str] = ()
    resource_types: Sequence[str] = ()


def scoped_accounts(viewer: Viewer, account_ids: Sequence[str] = ()) -> QuerySet[AwsAccount]:
    accounts = visible_accounts(viewer)
    if not account_ids:
        return accounts
    wanted = set(account_ids)
    found = set(accounts.filter(account_id__in=wanted).values_list("account_id", flat=True))
    if found != wanted:
        missing = ", ".join(sorted(wanted - found))
        raise AccountNotVisible(f"account: not found or not visible to you: {missing}")
    return accounts.filter(account_id__in=wanted)


def visible_resources(
    viewer: Viewer, where: ResourceFilter | None = None, *, include_gone: bool = False
) -> QuerySet[Resource]:
    """Resources within the viewer's view, as of the last finished scan; gone ones only when
    asked for (history is about resources as they were: a deleted one still drifted)."""
    where = where or ResourceFilter()
    resources = Resource.objects.filter(account__in=scoped_accounts(viewer, where.account_ids))
    if not include_gone:
        resources = resources.filter(gone_since__isnull=True)
    if where.regions:
        resources = resources.filter(region__in=where.regions)
    if where.resource_types:
        resources = resources.filter(resource_type__in=where.resource_types)
    return resources


def present_resources(viewer: Viewer, where: ResourceFilter | None = None) -> QuerySet[Resource]:
    """Resources as of the last finished scan (gone ones left out), within the viewer's view."""
    return visible_resources(viewer, where)


def resource_for(viewer: Viewer, arn: str, *, include_gone: bool = True) -> Resource:
    """The resource of ``arn`` if the viewer may see its account; an unknown ARN and a
    forbidden one get the same error, so a viewer cannot probe which ARNs exist."""
    resource = (
        visible_resources(viewer, include_gone=include_gone)
        .select_related("account")
        .filter(arn=arn)
        .first()
    )
    if resource is None:
        raise AccountNotVisible(f"resource: not found or not visible to you: {arn}")
    return resource


def current_violations(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> QuerySet[Violation]:
    """The violations that count: exempted ones (as of ``now``) are left out."""
    violations = Violation.objects.filter(resource__in=present_resources(viewer, where))
    return violations.active(now or timezone.now())


def exempted_violations(
    viewer: Viewer, where: ResourceFilter | None = None, *, now: datetime | None = None
) -> QuerySet[Violation]:
    """The violations an active exemption covers, each annotated with ``exemption_id``."""
    now = now or timezone.now()
    violations = Violation.objects.filter(resource__in=present_resources(viewer, where))
    return violations.exempted(now).with_exemption(now)


def exemptions(
    viewer: Viewer, *, now: datetime | None = None, include_expired: bool = False
) -> QuerySet[Exemption]:
    """The exemptions the viewer may see: those of their accounts, and estate-wide ones.

    An estate-wide exemption (by type or tag key, no account) changes the figures of every
    account, so everyone whose figures it changes may see why; it names no other account.
    """
    shown = Exemption.objects.filter(
        Q(account__isnull=True) | Q(account__in=visible_accounts(viewer))
    ).select_related("account", "owner")
    if not include_expired:
        shown = shown.active(now or timezone.now())
    return shown


def required_tags() -> list[str]:
    active = active_policy()
    if active is None:
        return []
    return [rule["name"] for rule in active.document.get("required_tags", [])]
