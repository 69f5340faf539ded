from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import pre_save


class McpEndpointConfig(AppConfig):
    name = "mcp_endpoint"
    verbose_name = "MCP endpoint"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.idp.oidc.models import Client

        from mcp_endpoint.oauth.adapter import offer_mcp_scopes

        pre_save.connect(offer_mcp_scopes, sender=Client, dispatch_uid="mcp-offer-scopes")
