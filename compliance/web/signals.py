"""Sign-in events into the audit log, and SSO group -> role mapping at each SSO sign-in.

Django's own signals cover every way in (allauth's pages, the admin's form, tests'
``client.login``); allauth's add the SSO details.
"""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in as allauth_logged_in
from allauth.account.signals import user_signed_up
from allauth.mfa.signals import authentication_failed as mfa_authentication_failed
from allauth.mfa.signals import authenticator_added, authenticator_removed
from allauth.socialaccount.models import SocialLogin
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions import roles
from compliance.web import signin
from compliance.writes.web_events import record_web_event

_FIRST_SSO_SIGN_IN = "_compliance_first_sso_sign_in"


@receiver(user_logged_in, dispatch_uid="compliance.audit_login")
def audit_login(sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **_: Any) -> None:
    record_web_event(EventType.LOGIN, request, acting=user, target=user.get_username())


@receiver(user_login_failed, dispatch_uid="compliance.audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    # Django has already replaced the password in ``credentials`` with stars.
    username = str(credentials.get("username") or credentials.get("email") or "")[:150]
    record_web_event(
        EventType.LOGIN_FAILED,
        request,
        acting=AnonymousUser(),
        target=username,
        outcome=AuditEvent.Outcome.DENIED,
        detail={"method": "password"},
    )


@receiver(user_logged_out, dispatch_uid="compliance.audit_logout")
def audit_logout(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser | None, **_: Any
) -> None:
    if user is None:
        return
    record_web_event(EventType.LOGOUT, request, acting=user, target=user.get_username())


@receiver(user_signed_up, dispatch_uid="compliance.note_first_sso_sign_in")
def note_first_sso_sign_in(
    sender: Any, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any
) -> None:
    if kwargs.get("sociallogin") is not None:
        setattr(request, _FIRST_SSO_SIGN_IN, True)


@receiver(allauth_logged_in, dispatch_uid="compliance.sso_roles")
def sso_roles(sender: Any, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    if not isinstance(sociallogin, SocialLogin):
        return
    groups = signin.idp_groups(sociallogin)
    change, role = signin.role_for_sign_in(
        groups, first_sign_in=bool(getattr(request, _FIRST_SSO_SIGN_IN, False))
    )
    before = roles.role_of(user)
    if not change or role == before:
        return
    with transaction.atomic():
        roles.assign_role(user, role)
        record_web_event(
            EventType.ROLE_CHANGED,
            request,
            acting=user,
            target=user.get_username(),
            detail={
                "from": before.value if before else None,
                "to": role.value if role else None,
                "source": "sso",
                "idp_groups": groups[:50],
            },
        )


@receiver(authenticator_added, dispatch_uid="compliance.audit_mfa_added")
@receiver(authenticator_removed, dispatch_uid="compliance.audit_mfa_removed")
def audit_mfa_change(
    sender: Any, request: HttpRequest, user: AbstractBaseUser, authenticator: Any, **kwargs: Any
) -> None:
    change = "added" if kwargs.get("signal") is authenticator_added else "removed"
    record_web_event(
        EventType.MFA_CHANGED,
        request,
        acting=user,
        target=user.get_username(),
        detail={"authenticator": str(authenticator.type), "change": change},
    )


@receiver(mfa_authentication_failed, dispatch_uid="compliance.audit_mfa_failed")
def audit_mfa_failed(
    sender: Any,
    request: HttpRequest | None,
    user: AbstractBaseUser,
    authenticator: Any,
    **kwargs: Any,
) -> None:
    """A wrong TOTP or recovery code, at sign-in or reauthentication: someone may hold the
    password and be guessing the second factor. The code itself is never kept."""
    record_web_event(
        EventType.MFA_FAILED,
        request,
        acting=user,
        target=user.get_username(),
        outcome=AuditEvent.Outcome.DENIED,
        detail={
            "authenticator": str(authenticator.type),
            "reauthentication": bool(kwargs.get("reauthentication", False)),
        },
    )
