"""Exemptions: a violation accepted on purpose, with a reason, an owner and an expiry."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.aws import RESOURCE_TYPES
from compliance.models import (
    MAX_EXEMPTION_LIFETIME,
    AwsAccount,
    Exemption,
    Resource,
    TaggingPolicy,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Viewer,
    sees_all_accounts,
    viewer_label,
    visible_accounts,
)
from compliance.writes.refusals import ActionError, refuse, require


def _exemption_account(*, resource_arn: str, account_id: str, acting: Viewer) -> AwsAccount | None:
    """The account an exemption is limited to: named, or the one of its resource; None for
    every account, which only someone who sees every account may exempt."""
    visible = visible_accounts(acting)
    account = None
    if account_id:
        account = visible.filter(account_id=account_id).first()
        if account is None:
            raise ActionError(f"account_id: {account_id!r} is not registered or not visible to you")
    if resource_arn:
        if not resource_arn.startswith("arn:") or len(resource_arn) > 2048:
            raise ActionError(f"resource_arn: {resource_arn[:100]!r} is not an ARN")
        resource = (
            Resource.objects.filter(arn=resource_arn, account__in=visible)
            .select_related("account")
            .first()
        )
        if resource is None:
            raise ActionError(
                f"resource_arn: {resource_arn} is not in the inventory or not visible to you"
            )
        if account is not None and account.pk != resource.account_id:
            raise ActionError(
                f"account_id: {resource_arn} belongs to account {resource.account.account_id}, "
                f"not {account_id}"
            )
        account = resource.account
    if account is None and not sees_all_accounts(acting):
        raise ActionError(
            "account_id: an exemption without an account or ARN applies to every account, "
            "which needs access to every account; name an account you can see"
        )
    return account


def _exemption_tag_key(tag_key: str) -> str:
    """The required tag as the active policy spells it, so ``owner`` exempts ``Owner``."""
    if not tag_key:
        return ""
    active = TaggingPolicy.objects.filter(is_active=True).first()
    if active is None:
        return tag_key
    required = [rule["name"] for rule in active.document.get("required_tags", [])]
    for name in required:
        if name.casefold() == tag_key.casefold():
            return str(name)
    raise ActionError(
        f"tag_key: {tag_key!r} is not a required tag of the active policy "
        f"(required: {', '.join(required)})"
    )


def _check_expiry(expires_at: datetime, now: datetime) -> datetime:
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        raise ActionError("expires_at: give a date and time with a time zone")
    if expires_at <= now:
        raise ActionError(f"expires_at: {expires_at.isoformat()} is not in the future")
    latest = now + MAX_EXEMPTION_LIFETIME
    if expires_at > latest:
        raise ActionError(
            f"expires_at: at most {MAX_EXEMPTION_LIFETIME.days} days ahead "
            f"(no later than {latest:%Y-%m-%d}); renew it when it expires"
        )
    return expires_at


def do_create_exemption(
    *,
    reason: str,
    owner: str,
    expires_at: datetime,
    resource_arn: str = "",
    resource_type: str = "",
    account_id: str = "",
    tag_key: str = "",
    acting: Viewer,
    interface: str = "cli",
) -> Exemption:
    """Exempt the violations matching every matcher given, until ``expires_at``.

    The exemption takes effect on every figure at once (figures apply exemptions when read)
    and stops by itself at its expiry. Refused, audited and without effect when a matcher is
    unknown or not visible to the person asking, the reason or owner is missing, or the expiry
    is not within the maximum lifetime.
    """
    resource_arn, resource_type = resource_arn.strip(), resource_type.strip()
    account_id, tag_key, reason = account_id.strip(), tag_key.strip(), reason.strip()
    target = resource_arn or account_id or resource_type or tag_key
    require(acting, Action.CREATE_EXEMPTION, interface=interface, target=target)
    try:
        if not (resource_arn or resource_type or account_id or tag_key):
            raise ActionError(
                "matcher: give at least one of resource_arn, resource_type, account_id, tag_key"
            )
        if resource_type and resource_type not in RESOURCE_TYPES:
            raise ActionError(
                f"resource_type: unknown resource type {resource_type!r}; "
                f"supported: {', '.join(RESOURCE_TYPES)}"
            )
        account = _exemption_account(
            resource_arn=resource_arn, account_id=account_id, acting=acting
        )
        tag_key = _exemption_tag_key(tag_key)
        if not reason:
            raise ActionError("reason: say why these violations are accepted")
        if len(reason) > 2000:
            raise ActionError("reason: longer than 2000 characters")
        owner_user = get_user_model().objects.filter(username=owner, is_active=True).first()
        if owner_user is None:
            raise ActionError(f"owner: no active user named {owner!r}")
        _check_expiry(expires_at, timezone.now())
    except ActionError as exc:
        raise refuse(
            EventType.EXEMPTION_CREATED, str(exc), acting=acting, interface=interface, target=target
        ) from None
    with transaction.atomic():
        exemption = Exemption.objects.create(
            resource_arn=resource_arn,
            resource_type=resource_type,
            account=account,
            tag_key=tag_key,
            reason=reason,
            owner=owner_user,
            created_by=viewer_label(acting),
            expires_at=expires_at,
        )
        _refresh_figures_for_exemptions(at_expiry=expires_at)
        audit.record(
            EventType.EXEMPTION_CREATED,
            acting=acting,
            target=f"exemption #{exemption.pk}",
            interface=interface,
            detail=_exemption_detail(exemption),
        )
    return exemption


def do_remove_exemption(exemption_id: int, *, acting: Viewer, interface: str = "cli") -> None:
    """Remove an exemption: its violations count again from this moment. The audit row keeps
    what it was."""
    target = f"exemption #{exemption_id}"
    require(acting, Action.REMOVE_EXEMPTION, interface=interface, target=target)
    try:
        visible = Exemption.objects.filter(
            Q(account__isnull=True) | Q(account__in=visible_accounts(acting))
        )
        exemption = visible.select_related("account", "owner").filter(pk=exemption_id).first()
        if exemption is None:
            raise ActionError(f"exemption: #{exemption_id} not found or not visible to you")
        if exemption.account_id is None and not sees_all_accounts(acting):
            raise ActionError(
                "exemption: it applies to every account; removing it needs access to every account"
            )
    except ActionError as exc:
        raise refuse(
            EventType.EXEMPTION_REMOVED, str(exc), acting=acting, interface=interface, target=target
        ) from None
    with transaction.atomic():
        detail = _exemption_detail(exemption)
        exemption.delete()
        _refresh_figures_for_exemptions()
        audit.record(
            EventType.EXEMPTION_REMOVED,
            acting=acting,
            target=target,
            interface=interface,
            detail=detail,
        )


def _refresh_figures_for_exemptions(*, at_expiry: datetime | None = None) -> None:
    """Queue the refresh of the stored figures that exemptions change, in the caller's
    transaction (a worker sees it only once the change is committed): now, and again at
    ``at_expiry`` when the exemption stops by itself."""
    from compliance.tasks import refresh_stored_figures_task  # that module imports the scans

    refresh_stored_figures_task.enqueue()
    if at_expiry is not None:
        refresh_stored_figures_task.using(run_after=at_expiry).enqueue()


def _exemption_detail(exemption: Exemption) -> dict[str, object]:
    return {
        "resource_arn": exemption.resource_arn,
        "resource_type": exemption.resource_type,
        "account_id": exemption.account.account_id if exemption.account else "",
        "tag_key": exemption.tag_key,
        "reason": exemption.reason,
        "owner": exemption.owner.get_username(),
        "expires_at": exemption.expires_at.isoformat(),
    }
