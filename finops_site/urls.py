from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from compliance.web import health
from mcp_endpoint.oauth import views as oauth_views

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # OAuth for MCP clients: resource metadata, and the authorization server (404 without key).
    *oauth_views.urlpatterns(),
    path("", include("compliance.urls")),
]
