"""Who may open a dashboard page: signed in, and allowed the action the page serves.

The decision is not made here but by the one rule set (``compliance.permissions.rules``),
through :func:`compliance.writes.refusals.require`, which also writes the refusal's audit row:
a refused page reads in the log exactly like the same action refused over MCP. Which accounts'
data a page shows is decided by the reads, from the account grants. A page is one answer
(``compliance.permissions.accounts.one_answer``: the viewer's accounts read once).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render

from compliance.permissions import Action
from compliance.permissions.accounts import one_answer
from compliance.permissions.roles import role_needed
from compliance.permissions.rules import RULES
from compliance.web.network import request_client_address
from compliance.writes.refusals import NotPermitted, require

P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def needs(action: Action) -> Callable[[View[P]], View[P]]:
    """Sign-in required (redirect to the sign-in page); without the right to ``action``, a 403
    page that says which role is missing instead of an empty dashboard."""

    def decorate(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            try:
                require(
                    request.user,
                    action,
                    interface="web",
                    target=request.path[:200],
                    client_address=request_client_address(request),
                )
            except NotPermitted as refusal:
                return render(
                    request,
                    "compliance/no_access.html",
                    {"message": str(refusal), "role": role_needed(RULES[action].permission)},
                    status=403,
                )
            with one_answer():
                return view(request, *args, **kwargs)

        return cast("View[P]", login_required(wrapped))

    return decorate


dashboard = needs(Action.VIEW)
