from __future__ import annotations

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """Django's admin, served by the site that shares the dashboard's sign-in."""

    default_site = "finops_site.admin_site.AdminSite"
