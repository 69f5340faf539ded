from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance import selectors
from compliance.views.access import dashboard


@dashboard
def overview(request: HttpRequest) -> HttpResponse:
    summary = selectors.compliance_summary(request.user)
    return render(request, "compliance/overview.html", {"summary": summary})
