"""Who may open a dashboard page: signed in, and holding the permission the page needs.

Which accounts' data a page shows is not decided here but in the selectors, from the account
grants; these decorators only gate the page or the action by role (see compliance.permissions.roles), and
make the page one answer (``compliance.permissions.accounts.one_answer``: the viewer's accounts read once).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render

from compliance.permissions import roles
from compliance.permissions.accounts import one_answer

P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def needs(permission: str) -> Callable[[View[P]], View[P]]:
    """Sign-in required (redirect to the sign-in page); without ``permission``, a 403 page that
    says which role is missing instead of an empty dashboard."""

    def decorate(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not request.user.has_perm(permission):
                return render(
                    request,
                    "compliance/no_access.html",
                    {"permission": permission, "role": roles.role_needed(permission)},
                    status=403,
                )
            with one_answer():
                return view(request, *args, **kwargs)

        return cast("View[P]", login_required(wrapped))

    return decorate


dashboard = needs(roles.VIEW)
