from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Tag compliance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compliance import checks  # noqa: F401  (checks registers the system checks)
        from compliance.permissions import roles
        from compliance.web import signals  # noqa: F401  (signals registers its receivers)

        # After every migrate, once all apps' permissions exist.
        post_migrate.connect(roles.ensure_roles, dispatch_uid="compliance.ensure_roles")
