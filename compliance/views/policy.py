"""The tagging policy: the active version, its history, a diff between two versions, and the
export of the active policy as an AWS Organizations tag policy."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from compliance import reads
from compliance.core.policy import PolicyError
from compliance.core.policy_diff import diff_policies
from compliance.models import TaggingPolicy
from compliance.permissions import Action, may
from compliance.reads import exports
from compliance.reads import policy as policy_versions
from compliance.views.access import dashboard, needs
from compliance.web.network import request_client_address
from compliance.writes import exports as export_writes

#: ``?download=`` values of the policy page.
AWS_TAG_POLICY = "aws-tag-policy"
#: Version numbers are positive and never this long; a longer one is a typo or a probe.
_MAX_VERSION_DIGITS = 9


class BadVersion(ValueError):
    pass


def _rules(row: TaggingPolicy) -> dict[str, Any]:
    active = policy_versions.read_policy(row)
    return {
        "tag_groups": [
            ("required", "Required tags", active.required_tags),
            ("optional", "Optional tags", active.optional_tags),
        ],
        "naming_rules": sorted(active.tag_naming_rules.items()),
    }


def policy(request: HttpRequest) -> HttpResponseBase:
    """The page (``VIEW``), or with ``?download=aws-tag-policy`` the export (``EXPORT``):
    each refused, and audited, as its own action."""
    if request.GET.get("download") == AWS_TAG_POLICY:
        return export_policy(request)
    return _policy_page(request)


@dashboard
def _policy_page(request: HttpRequest) -> HttpResponse:
    download = request.GET.get("download")
    if download is not None:
        return _bad_request(
            request, f"download: unknown export {download[:40]!r}; use {AWS_TAG_POLICY}"
        )
    active = reads.active_policy()
    context: dict[str, Any] = {
        "active": active,
        "versions": policy_versions.policy_versions(),
        "max_versions": policy_versions.MAX_LISTED_VERSIONS,
        "can_export": may(request.user, Action.EXPORT),
        "download": AWS_TAG_POLICY,
    }
    if active is not None:
        try:
            context.update(_rules(active))
        except PolicyError as exc:
            context["unreadable"] = str(exc)
    return render(request, "compliance/policy.html", context)


@needs(Action.EXPORT)
def export_policy(request: HttpRequest) -> HttpResponse:
    try:
        text = export_writes.do_export_aws_tag_policy(
            request.user, interface="web", client_address=request_client_address(request)
        )
    except exports.ExportError as exc:
        return _bad_request(request, str(exc), status=404)
    response = HttpResponse(text, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="aws-tag-policy.json"'
    return response


def _version(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip().removeprefix("v")
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_VERSION_DIGITS:
        raise BadVersion(f"{name}: {raw[:40]!r} is not a policy version number (e.g. 3)")
    return int(text)


@dashboard
def policy_diff(request: HttpRequest) -> HttpResponse:
    try:
        asked_from, asked_to = _version(request, "from"), _version(request, "to")
        after = (
            policy_versions.policy_version(asked_to)
            if asked_to is not None
            else reads.active_policy()
        )
        if after is None:
            return _diff_page(request, note="No tagging policy imported yet: nothing to compare.")
        before = (
            policy_versions.policy_version(asked_from)
            if asked_from is not None
            else policy_versions.previous_version(after)
        )
    except (BadVersion, policy_versions.UnknownPolicyVersion) as exc:
        return _bad_request(request, str(exc), template="compliance/policy_diff.html")
    if before is None:
        return _diff_page(
            request,
            after=after,
            note=f"Version {after.version} is the first one: there is no earlier version.",
        )
    try:
        diff = diff_policies(
            policy_versions.read_policy(before), policy_versions.read_policy(after)
        )
    except PolicyError as exc:
        return _bad_request(
            request,
            f"a stored version cannot be read: {exc}",
            template="compliance/policy_diff.html",
        )
    return _diff_page(request, before=before, after=after, diff=diff)


def _diff_page(request: HttpRequest, **context: Any) -> HttpResponse:
    return render(
        request,
        "compliance/policy_diff.html",
        {"versions": policy_versions.policy_versions(), **context},
    )


def _bad_request(
    request: HttpRequest,
    message: str,
    *,
    status: int = 400,
    template: str = "compliance/policy.html",
) -> HttpResponse:
    context = {"error": message, "versions": policy_versions.policy_versions()}
    return render(request, template, context, status=status)
