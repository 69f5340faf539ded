"""A URLconf with a page that forgot its login requirement: the checklist must notice."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path


def open_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("anyone can read this")


urlpatterns = [path("", open_page), path("admin/", admin.site.urls)]
