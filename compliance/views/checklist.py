"""The deployment security checklist: the latest run, its attestations and history; admins can
run it again from here and attest items in the admin."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from compliance.permissions import roles
from compliance.reads.checklist import attestation_states, latest_checklist, recent_runs
from compliance.views.access import needs
from compliance.writes.checklist import do_run_security_checklist

#: Who may attest an item (in the admin, through the audited action).
ATTEST = "compliance.add_attestation"


@require_http_methods(["GET", "HEAD", "POST"])
@needs(roles.VIEW_CHECKLIST)
def checklist(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _run_now(request)
    can_attest = request.user.has_perm(ATTEST)
    return render(
        request,
        "compliance/checklist.html",
        {
            "checklist": latest_checklist(),
            "attestations": attestation_states(),
            "runs": recent_runs(),
            "can_attest": can_attest,
            "attest_url": reverse("admin:compliance_attestation_add") if can_attest else "",
        },
    )


def _run_now(request: HttpRequest) -> HttpResponse:
    """Evaluate every item now; the action stores the run and audits it."""
    run, results = do_run_security_checklist(acting=request.user, interface="web")
    failing = sum(1 for result in results if result.fails_gate)
    if failing:
        messages.error(
            request,
            f"Checklist run #{run.pk}: {failing} required item(s) failing or expired.",
        )
    else:
        messages.success(request, f"Checklist run #{run.pk}: every required item holds.")
    return HttpResponseRedirect(reverse("compliance:checklist"))
