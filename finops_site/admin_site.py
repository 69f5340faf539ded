"""The admin site behind the dashboard's sign-in.

The admin has no login form of its own: ``/admin/login/`` sends people to the same sign-in as
the dashboard (SSO, or a local account with its second factor). With
``ADMIN_REQUIRES_MFA_OR_SSO`` (the default) a staff session signed in with a password alone is
refused, audited, and told how to get in.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.web import signin
from compliance.writes import web_events


class AdminSite(admin.AdminSite):
    site_header = "Tag compliance administration"
    site_title = "Tag compliance admin"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        user = request.user
        if not settings.ADMIN_REQUIRES_MFA_OR_SSO:
            return True
        return isinstance(user, AbstractBaseUser) and signin.strong_sign_in(request, user)

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        user = request.user
        if self.has_permission(request):
            return HttpResponseRedirect(resolve_url("admin:index"))  # already in: nothing to do
        if user.is_authenticated and user.is_active:
            # Signed in, but the admin is not theirs (not staff), or not signed in strongly
            # enough (has_permission said no): say so, audited, rather than send them to a
            # sign-in page they have already passed.
            page, reason = (
                ("admin/strong_sign_in_required.html", "sign-in without SSO or a second factor")
                if user.is_staff
                else ("admin/not_an_administrator.html", "not an administrator")
            )
            web_events.record_web_event(
                EventType.ADMIN_REFUSED,
                request,
                acting=user,
                target=request.path,
                outcome=AuditEvent.Outcome.DENIED,
                detail={"reason": reason},
            )
            return render(request, page, status=403)
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = resolve_url("admin:index")
        return HttpResponseRedirect(
            f"{resolve_url('account_login')}?{urlencode({'next': next_url})}"
        )
