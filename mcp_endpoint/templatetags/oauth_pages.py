"""``{% answer_status 400 %}``: an authorization-server page says which status it answers with.

allauth renders its error page (an unknown client, a redirect URI not registered, a refused
logout) with a plain 200, which tells a browser, a monitoring probe and an MCP client's
embedded web view that all went well. The page's template declares the status instead, and
the authorization server's views (``mcp_endpoint.oauth.views``) answer with it.
"""

from __future__ import annotations

from django import template
from django.http import HttpRequest

register = template.Library()

#: Where the declared status is kept on the request until the view answers.
PAGE_STATUS_ATTRIBUTE = "oauth_page_status"


@register.simple_tag(takes_context=True)
def answer_status(context: template.Context, status: int) -> str:
    request = context.get("request")
    if isinstance(request, HttpRequest):
        setattr(request, PAGE_STATUS_ATTRIBUTE, int(status))
    return ""


def declared_status(request: HttpRequest) -> int | None:
    status = getattr(request, PAGE_STATUS_ATTRIBUTE, None)
    return status if isinstance(status, int) else None
