from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.views.access import dashboard


@dashboard
def violation_list(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "violation_list"})
