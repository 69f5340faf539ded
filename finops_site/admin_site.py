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

from compliance.models import AuditEvent
from compliance.web import network, signin


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
        if user.is_authenticated and user.is_active and user.is_staff:
            # Signed in, staff, but not strongly enough (has_permission said no).
            network.record_web_event(
                AuditEvent.EventType.ADMIN_REFUSED,
                request,
                acting=user,
                target=request.path,
                outcome=AuditEvent.Outcome.DENIED,
                detail={"reason": "sign-in without SSO or a second factor"},
            )
            return render(request, "admin/strong_sign_in_required.html", status=403)
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = resolve_url("admin:index")
        return HttpResponseRedirect(
            f"{resolve_url('account_login')}?{urlencode({'next': next_url})}"
        )
