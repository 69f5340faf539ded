from __future__ import annotations

from datetime import datetime
from typing import cast

from django.apps import AppConfig
from django.db.models.signals import pre_save

from compliance.checklist.facts import (
    ApiKeyAges,
    AsgiApp,
    McpEndpointFacts,
    register_mcp_endpoint,
)


class McpEndpointConfig(AppConfig):
    name = "mcp_endpoint"
    verbose_name = "MCP endpoint"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.idp.oidc.models import Client

        from mcp_endpoint.oauth.adapter import offer_mcp_scopes
        from mcp_endpoint.oauth.metadata import MCP_PATH

        pre_save.connect(offer_mcp_scopes, sender=Client, dispatch_uid="mcp-offer-scopes")
        # The security checklist probes the endpoint and reads its keys' ages; compliance
        # cannot import this app (it is a face built on compliance), so it is told here.
        register_mcp_endpoint(
            McpEndpointFacts(
                path=MCP_PATH, build_application=_served_application, api_key_ages=_api_key_ages
            )
        )


def _served_application() -> AsgiApp:
    from django.core.handlers.asgi import ASGIHandler

    from mcp_endpoint.http import mounted_beside

    return cast("AsgiApp", mounted_beside(ASGIHandler()))


def _api_key_ages(now: datetime, created_before: datetime) -> ApiKeyAges:
    from mcp_endpoint.models import ApiKey

    usable = ApiKey.objects.filter(revoked_at__isnull=True, expires_at__gt=now)
    older = usable.filter(created_at__lt=created_before).order_by("created_at")
    return ApiKeyAges(active=usable.count(), older=tuple(older.values_list("prefix", flat=True)))
