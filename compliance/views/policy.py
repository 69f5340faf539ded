from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.views.access import dashboard


@dashboard
def policy(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "policy"})


@dashboard
def policy_diff(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "policy_diff"})
