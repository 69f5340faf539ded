"""Creating and revoking API keys: each writes its audit row in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.audit.events import EventType
from compliance.permissions import Action, scopes_for
from compliance.permissions.accounts import Viewer, visible_accounts
from compliance.writes.refusals import ActionError, refuse, require
from mcp_endpoint import keys
from mcp_endpoint.models import ApiKey


def check_key_request(
    user: AbstractBaseUser,
    name: str,
    scopes: Sequence[str],
    expires_in_days: int | None,
    account_ids: Sequence[str],
) -> tuple[list[str], int, list[str]]:
    maximum = settings.API_KEY_MAX_AGE_DAYS
    if not name.strip() or len(name) > 100:
        raise ActionError("name: required, at most 100 characters")
    unknown = sorted(set(scopes) - set(ApiKey.ALL_SCOPES))
    if unknown or not scopes:
        raise ActionError(
            f"scopes: expected some of {', '.join(ApiKey.ALL_SCOPES)}, got {', '.join(scopes)}"
        )
    offered = scopes_for(user)
    beyond = sorted(set(scopes) - set(offered))
    if beyond:
        # A key is never wider than its user: a scope the role lacks would be dead weight
        # today and a surprise the day the role changes back.
        raise ActionError(
            f"scopes: {user.get_username()}'s role does not allow {', '.join(beyond)} "
            f"(it allows: {', '.join(offered) or 'nothing'})"
        )
    days = maximum if expires_in_days is None else expires_in_days
    if not 1 <= days <= maximum:
        raise ActionError(
            f"expires_in_days: must be between 1 and {maximum} (API_KEY_MAX_AGE_DAYS)"
        )
    if not user.is_active:
        raise ActionError("user: inactive users cannot own API keys")
    wanted = sorted(set(account_ids))
    if wanted:
        seen = set(
            visible_accounts(user)
            .filter(account_id__in=wanted)
            .values_list("account_id", flat=True)
        )
        missing = [a for a in wanted if a not in seen]
        if missing:
            # A key acts as its user and is never wider: it cannot name other accounts.
            raise ActionError(
                f"accounts: not visible to {user.get_username()}: {', '.join(missing)}"
            )
    return sorted(set(scopes)), days, wanted


def do_create_api_key(
    *,
    user: AbstractBaseUser,
    name: str,
    scopes: Sequence[str] = (ApiKey.Scope.READ,),
    expires_in_days: int | None = None,
    account_ids: Sequence[str] = (),
    acting: Viewer,
    interface: str = "cli",
) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the row and the full key, which is never stored.

    Expiry defaults to, and may not exceed, ``API_KEY_MAX_AGE_DAYS``.
    """
    require(acting, Action.MANAGE_KEYS, interface=interface, target=str(user.get_username()))
    try:
        scope_list, days, wanted = check_key_request(
            user, name, scopes, expires_in_days, account_ids
        )
    except ActionError as exc:
        raise refuse(
            EventType.KEY_CREATED, str(exc), acting=acting, target=str(user.get_username())
        ) from None
    prefix, raw = keys.new_key()
    with transaction.atomic():
        key = ApiKey(
            prefix=prefix,
            key_hash=keys.hash_key(raw),
            name=name.strip(),
            scopes=scope_list,
            expires_at=timezone.now() + timedelta(days=days),
        )
        key.user_id = user.pk
        key.save()
        if wanted:
            key.accounts.set(visible_accounts(user).filter(account_id__in=wanted))
        audit.record(
            EventType.KEY_CREATED,
            acting=acting,
            target=prefix,
            interface=interface,
            detail={
                "owner": str(user.get_username()),
                "name": key.name,
                "scopes": scope_list,
                "accounts": wanted,
                "expires_at": key.expires_at.isoformat(),
            },
        )
    return key, raw


def do_revoke_api_keys(
    *,
    revoke_all: bool = False,
    username: str | None = None,
    prefix: str | None = None,
    acting: Viewer,
    interface: str = "cli",
) -> list[str]:
    """Revoke every matching key that is not revoked yet; returns their prefixes.

    Exactly one selector must be given, so a typo cannot widen an incident response to every
    key by accident.
    """
    require(acting, Action.MANAGE_KEYS, interface=interface)
    chosen = [revoke_all, username is not None, prefix is not None]
    if sum(chosen) != 1:
        raise refuse(
            EventType.KEY_REVOKED,
            "choose exactly one of --all, --user, --prefix",
            acting=acting,
            interface=interface,
        )
    if prefix is not None and not keys.PREFIX_PATTERN.fullmatch(prefix):
        raise refuse(
            EventType.KEY_REVOKED,
            f"prefix: {prefix!r} is not a key prefix (ftc_ and 8 characters)",
            acting=acting,
            interface=interface,
        )
    now = timezone.now()
    with transaction.atomic():
        matching = ApiKey.objects.select_for_update().filter(revoked_at__isnull=True)
        if username is not None:
            matching = matching.filter(user__username=username)
        elif prefix is not None:
            matching = matching.filter(prefix=prefix)
        prefixes = sorted(matching.values_list("prefix", flat=True))
        ApiKey.objects.filter(prefix__in=prefixes).update(revoked_at=now)
        what = "all" if revoke_all else f"user {username}" if username is not None else prefix
        audit.record(
            EventType.KEY_REVOKED,
            acting=acting,
            target=str(what),
            interface=interface,
            detail={"revoked": prefixes, "count": len(prefixes)},
        )
    return prefixes
