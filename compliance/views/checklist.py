"""The deployment security checklist: the latest run, its attestations and history; admins can
queue a new run from here (a task worker evaluates it; the page follows its progress) and
attest items in the admin."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from compliance.permissions import Action, may
from compliance.reads.checklist import (
    attestation_states,
    latest_checklist,
    recent_runs,
    run_progress,
)
from compliance.views.access import needs
from compliance.writes.checklist import do_fail_stale_checklist_runs, do_start_security_checklist
from compliance.writes.refusals import ActionError


@require_http_methods(["GET", "HEAD", "POST"])
def checklist(request: HttpRequest) -> HttpResponseBase:
    """GET: the page (``VIEW_CHECKLIST``); POST: its run button (``RUN_CHECKLIST``), each
    refused, and audited, as its own action."""
    if request.method == "POST":
        return _run_now(request)
    return _page(request)


@needs(Action.VIEW_CHECKLIST)
def _page(request: HttpRequest) -> HttpResponse:
    # A run whose worker was lost reads failed, not "running" for ever.
    do_fail_stale_checklist_runs()
    can_attest = may(request.user, Action.ATTEST)
    return render(
        request,
        "compliance/checklist.html",
        {
            "checklist": latest_checklist(),
            "progress": run_progress(),
            "attestations": attestation_states(),
            "runs": recent_runs(),
            "can_attest": can_attest,
            "attest_url": reverse("admin:compliance_attestation_add") if can_attest else "",
        },
    )


@needs(Action.RUN_CHECKLIST)
def _run_now(request: HttpRequest) -> HttpResponse:
    """Queue a run (the write audits it); the page then follows its progress."""
    try:
        run = do_start_security_checklist(acting=request.user, interface="web")
    except ActionError as exc:
        messages.error(request, f"The checklist was not run: {exc}.")
    else:
        messages.success(
            request, f"Checklist run #{run.pk} queued; this page follows its progress."
        )
    return HttpResponseRedirect(reverse("compliance:checklist"))
