from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from compliance import health

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("compliance.urls")),
]
