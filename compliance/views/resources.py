from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.views.access import dashboard


@dashboard
def resource_list(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "resource_list"})


@dashboard
def resource_export(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "resource_export"})


@dashboard
def resource_detail(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "resource_detail"})
