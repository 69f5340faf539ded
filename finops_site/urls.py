from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from compliance.web import forbidden, health, saml
from mcp_endpoint.oauth import views as oauth_views

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    # allauth's SAML assertion consumer finishes here: one-time assertions, audited refusals.
    path("accounts/saml/<str:organization_slug>/acs/finish/", saml.finish_acs),
    path("accounts/", include("allauth.urls")),
    # OAuth for MCP clients: resource metadata, and the authorization server (404 without key).
    *oauth_views.urlpatterns(),
    path("", include("compliance.urls")),
]

# Every PermissionDenied raised by a page (the admin's own checks, say) is audited.
handler403 = forbidden.forbidden
