from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance.views.access import dashboard


@dashboard
def scan_list(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "scan_list"})


@dashboard
def scan_start(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "scan_start"})


@dashboard
def scan_detail(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "scan_detail"})


@dashboard
def scan_progress(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return render(request, "compliance/coming.html", {"page": "scan_progress"})
