"""Dashboard views: thin, each calls selectors with the signed-in user."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance import selectors


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    summary = selectors.compliance_summary(request.user)
    return render(request, "compliance/overview.html", {"summary": summary})
