from __future__ import annotations

from django.urls import path

from compliance.views import (
    allocation,
    checklist,
    costs,
    overview,
    policy,
    resources,
    scans,
    violations,
)

app_name = "compliance"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("resources/", resources.resource_list, name="resources"),
    path("resources/export.csv", resources.resource_export, name="resource_export"),
    path("resources/<int:pk>/", resources.resource_detail, name="resource_detail"),
    path("violations/", violations.violation_list, name="violations"),
    path("costs/", costs.costs, name="costs"),
    path("allocation/", allocation.allocation, name="allocation"),
    path("scans/", scans.scan_list, name="scans"),
    path("scans/start", scans.scan_start, name="scan_start"),
    path("scans/<int:pk>/", scans.scan_detail, name="scan_detail"),
    path("scans/<int:pk>/progress", scans.scan_progress, name="scan_progress"),
    path("policy/", policy.policy, name="policy"),
    path("policy/diff", policy.policy_diff, name="policy_diff"),
    path("checklist/", checklist.checklist, name="checklist"),
]
