"""Scan pages: the history, one scan with its outcomes and live progress, and "Scan now".

What a scan read or failed to read is shown for the signed-in user's accounts only (see
:mod:`compliance.reads.scans`); starting one goes through the audited action, which scans no
account the user cannot see.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from compliance.models import Scan
from compliance.permissions import Action, may
from compliance.reads import scans as scan_status
from compliance.views.access import dashboard, needs
from compliance.writes.refusals import ActionError
from compliance.writes.scans import do_start_scan


@require_safe
@dashboard
def scan_list(request: HttpRequest) -> HttpResponse:
    try:
        page = scan_status.parse_page(request.GET.get("page"))
    except scan_status.BadPage as exc:
        return render(request, "compliance/scans.html", {"error": str(exc)}, status=400)
    listing = scan_status.scan_page(request.user, page)
    return render(
        request,
        "compliance/scans.html",
        {"listing": listing, "can_scan": may(request.user, Action.START_SCAN)},
    )


@require_safe
@dashboard
def scan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    scan = scan_status.visible_scan(request.user, pk)
    if scan is None:
        raise Http404(f"scan #{pk} not found")
    detail = scan_status.scan_detail(scan, request.user)
    return render(
        request,
        "compliance/scan_detail.html",
        {
            "detail": detail,
            "scan": scan,
            "active": scan.status in (Scan.Status.QUEUED, Scan.Status.RUNNING),
            "max_outcome_rows": scan_status.MAX_OUTCOME_ROWS,
        },
    )


@require_safe
@dashboard
def scan_progress(request: HttpRequest, pk: int) -> HttpResponse:
    scan = scan_status.visible_scan(request.user, pk)
    if scan is None:
        return JsonResponse({"error": f"scan #{pk} not found"}, status=404)
    return JsonResponse(scan_status.progress(scan))


@require_POST
@needs(Action.START_SCAN)
def scan_start(request: HttpRequest) -> HttpResponse:
    """Queue a scan of the user's accounts (every account for those who see them all)."""
    try:
        scan = do_start_scan(acting=request.user, interface="web")
    except ActionError as exc:
        messages.error(request, f"The scan was not started: {exc}")
        return redirect("compliance:scans")
    messages.success(request, f"Scan #{scan.pk} queued; this page follows its progress.")
    return redirect("compliance:scan_detail", pk=scan.pk)
