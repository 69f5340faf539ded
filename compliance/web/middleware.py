"""Request checks that every dashboard page would otherwise repeat."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.web import network, signin
from compliance.writes import web_events


class RefuseNulCharacters:
    """A NUL character in the path, the query string or a form field is refused with a 400,
    and audited (``request.refused``).

    No legitimate input holds one, PostgreSQL refuses text containing it ("cannot contain NUL
    characters"), and letting it reach a query would turn a bad input into a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for query in (request.GET, request.POST if request.method == "POST" else None)
            if query is not None
            for key, values in query.lists()
        ):
            web_events.record_web_event(
                EventType.REQUEST_REFUSED,
                request,
                target=request.path,
                outcome=AuditEvent.Outcome.DENIED,
                detail={"reason": "NUL character in the request", "method": request.method},
            )
            return HttpResponseBadRequest(
                "Bad request: NUL characters are not accepted.", content_type="text/plain"
            )
        return self.get_response(request)


class ForwardedHeadersFromTrustedProxiesOnly:
    """Forwarded headers (``X-Forwarded-Proto``, ``X-Forwarded-For``, ...) of a peer outside
    ``TRUSTED_PROXY_CIDRS`` are removed before any other middleware reads them.

    First in ``MIDDLEWARE``: ``SecurityMiddleware`` decides HTTPS (redirect, HSTS) from
    ``SECURE_PROXY_SSL_HEADER``, which Django believes from any peer. Served over ASGI, the
    ASGI middleware of the same name in :mod:`compliance.web.network` already applied the rule
    (for ``/mcp`` too); this covers every other way a request reaches Django (WSGI, the test
    client).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not network.is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for key in network.FORWARDED_META_KEYS & request.META.keys():
                del request.META[key]
        return self.get_response(request)


class PrivatePagesNotCached:
    """Every answer to a signed-in person is ``Cache-Control: private, no-store``.

    A page shows what its viewer may see (their accounts, their spend, a key shown once): no
    shared cache may keep it for the next person, and no browser cache may keep it after they
    sign out. Static files never reach here (WhiteNoise answers them first, with its long
    caching), nor does anything an anonymous visitor gets.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class SecondFactorForPasswordSignIn:
    """A person signed in with a password and no second factor is sent to set one up (TOTP)
    before any dashboard page or the OAuth consent (``PASSWORD_SIGNIN_REQUIRES_MFA``;
    :func:`compliance.web.signin.second_factor_missing` decides).

    Only the pages that set up the factor (allauth's ``/accounts/2fa/``), the reauthentication
    they may ask for, and signing out stay open meanwhile. The admin keeps its own rule
    (``ADMIN_REQUIRES_MFA_OR_SSO``, see ``finops_site.admin_site``): it refuses, audited, any
    session without SSO or a second factor, so it is left to it.
    """

    OPEN_URL_NAMES = ("account_logout", "account_reauthenticate", "account_login")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            isinstance(user, AbstractBaseUser)
            and not self._open(request.path)
            and signin.second_factor_missing(request, user)
        ):
            messages.info(
                request,
                "Set up a second factor (an authenticator app) to continue: a password alone "
                "does not open this site.",
            )
            signin.count_fresh_password_as_reauthentication(request, user)
            setup = reverse("mfa_activate_totp")
            return HttpResponseRedirect(f"{setup}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def _open(self, path: str) -> bool:
        if path.startswith(
            (reverse("mfa_index"), reverse("admin:index"), settings.STATIC_URL or "/static/")
        ):
            return True
        return path in {reverse(name) for name in self.OPEN_URL_NAMES}
