"""The consent page offers only the MCP scopes the person's role allows.

A token acts as its user and is checked against the user's role at every call, so a scope the
role lacks would grant nothing; offering it would still mislead the person consenting (and
look like a grant in the client), so it is not shown. The rule is the same one
``create_api_key`` applies: ``compliance.permissions.rules.scopes_for``.
"""

from __future__ import annotations

from typing import Any

from allauth.idp.oidc.forms import AuthorizationForm
from allauth.idp.oidc.views import AuthorizationView

from compliance.permissions import scopes_for
from mcp_endpoint.oauth.metadata import MCP_SCOPES


class RoleBoundAuthorizationForm(AuthorizationForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        allowed = set(scopes_for(kwargs["user"]))
        kwargs["requested_scopes"] = [
            scope
            for scope in kwargs["requested_scopes"]
            if scope not in MCP_SCOPES or scope in allowed
        ]
        super().__init__(*args, **kwargs)


class RoleBoundAuthorizationView(AuthorizationView):
    form_class = RoleBoundAuthorizationForm


authorization = RoleBoundAuthorizationView.as_view()
