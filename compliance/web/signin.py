"""Sign-in policy on top of django-allauth: who may sign up, from where, with which role.

- Local accounts are created by admins only (and ``createsuperuser``); SSO users are created on
  their first sign-in and get ``SSO_DEFAULT_ROLE``, then the roles their IdP groups map to
  (``SSO_ROLE_GROUPS``) on every sign-in, so removing someone from an IdP group takes effect at
  their next sign-in.
- Client addresses (allauth's rate limits key on them) believe forwarded headers only from
  ``TRUSTED_PROXY_CIDRS``.
- :func:`strong_sign_in`: whether this session was signed in through SSO or with a second
  factor, which the admin site requires.
- :func:`second_factor_missing`: a password sign-in by someone without a second factor, who
  must set one up before reaching any page (``PASSWORD_SIGNIN_REQUIRES_MFA``).
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions import roles
from compliance.web import network, saml
from compliance.writes import web_events


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_client_ip(self, request: HttpRequest) -> str:
        """The client as allauth's rate limits count it (sign-in, registration): an IPv4
        address, or an IPv6 address's /64, the block one subscriber is given (a client
        rotating addresses within it is still one client). Audit rows keep the full address.
        """
        address = network.request_client_address(request)
        if not address:
            raise PermissionDenied("Unable to determine client IP address")
        return network.client_block(address)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        if getattr(provider, "id", "") == saml.PROVIDER_ID:
            # A refused SAML response may be a forgery, a wrapped or a replayed assertion: its
            # own event type, with the check that failed, so it can be alerted on.
            web_events.record_web_event(
                EventType.SAML_REFUSED,
                request,
                acting=AnonymousUser(),
                target=str(getattr(getattr(provider, "app", None), "client_id", "") or ""),
                outcome=AuditEvent.Outcome.DENIED,
                detail=saml.refusal_detail(extra_context),
            )
            return
        web_events.record_web_event(
            EventType.LOGIN_FAILED,
            request,
            acting=AnonymousUser(),
            target=str(getattr(provider, "id", "")),
            outcome=AuditEvent.Outcome.DENIED,
            detail={"method": "sso", "error": str(error or "")[:200]},
        )


def idp_groups(sociallogin: SocialLogin) -> list[str]:
    """The groups the identity provider says the person is in.

    allauth keeps OIDC claims per source (``userinfo``, ``id_token``) and SAML attributes at the
    top level; the claim is read from the first that has it.
    """
    data = sociallogin.account.extra_data or {}
    sources = [data.get("userinfo"), data.get("id_token"), data]
    for source in sources:
        if isinstance(source, dict) and settings.SSO_GROUPS_CLAIM in source:
            value = source[settings.SSO_GROUPS_CLAIM]
            if isinstance(value, str):
                return [value]
            if isinstance(value, list):
                return [str(item) for item in value]
    return []


def role_for_sign_in(groups: list[str], *, first_sign_in: bool) -> tuple[bool, roles.Role | None]:
    """Whether to set the person's role on this SSO sign-in, and to what (None: no role).

    With ``SSO_ROLE_GROUPS`` set, the identity provider decides at every sign-in: the highest
    role the person's groups map to, else ``SSO_DEFAULT_ROLE``. Without it, roles are managed in
    the admin and only a first sign-in gets the default role.
    """
    default = roles.Role(settings.SSO_DEFAULT_ROLE) if settings.SSO_DEFAULT_ROLE else None
    if not settings.SSO_ROLE_GROUPS:
        return first_sign_in, default
    mapped = {
        roles.Role(settings.SSO_ROLE_GROUPS[g]) for g in groups if g in settings.SSO_ROLE_GROUPS
    }
    for role in (roles.Role.ADMIN, roles.Role.ANALYST, roles.Role.VIEWER):
        if role in mapped:
            return True, role
    return True, default


#: allauth's records of a sign-in that proved something the person has (an SSO session at the
#: identity provider, an authenticator) and of one that proved only something they know.
STRONG_METHODS = frozenset({"socialaccount", "mfa"})
PASSWORD_METHODS = frozenset({"password", "password_reset", "code"})


def _sign_in_methods(request: HttpRequest, user: AbstractBaseUser) -> set[str]:
    return {str(record.get("method")) for record in get_authentication_records(request, user)}


def strong_sign_in(request: HttpRequest, user: AbstractBaseUser) -> bool:
    return bool(_sign_in_methods(request, user) & STRONG_METHODS)


def second_factor_missing(request: HttpRequest, user: AbstractBaseUser) -> bool:
    """Whether this session was signed in with a password alone by someone who has no second
    factor yet, so must set one up before anything else (``PASSWORD_SIGNIN_REQUIRES_MFA``).

    Every password sign-in goes through allauth, which records it in the session; a session
    with no record at all was not opened by a password (a test's ``force_login``, say). Once
    the person has activated an authenticator in this session, they pass.
    """
    if not settings.PASSWORD_SIGNIN_REQUIRES_MFA:
        return False
    methods = _sign_in_methods(request, user)
    if not methods & PASSWORD_METHODS or methods & STRONG_METHODS:
        return False
    return not is_mfa_enabled(user)


def count_fresh_password_as_reauthentication(request: HttpRequest, user: AbstractBaseUser) -> None:
    """A password typed moments ago counts as allauth's reauthentication, so that someone sent
    to set up their second factor right after signing in is not asked for it a second time.

    allauth asks for a reauthentication before an authenticator is activated, and counts only
    records marked ``reauthenticated``; a sign-in record within ``ACCOUNT_REAUTHENTICATION_
    TIMEOUT`` proves the same thing. Older sign-ins are left alone: the person retypes it.
    """
    records = get_authentication_records(request, user)
    if not records or any(record.get("reauthenticated") for record in records):
        return
    newest = records[-1]
    fresh = time.time() - float(newest.get("at", 0)) < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
    if newest.get("method") == "password" and fresh:
        newest["reauthenticated"] = True
        request.session.modified = True
