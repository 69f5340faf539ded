"""The tagging policy's versions as the dashboard reads them, and the audited policy export.

Policy versions hold no account data (every signed-in viewer reads the same policy), so these
reads take no viewer; the export does, because it is recorded against the person.
"""

from __future__ import annotations

from django.db import transaction

from compliance import audit, exports, policy, selectors
from compliance.access import Viewer
from compliance.models import AuditEvent, TaggingPolicy

#: The history lists this many versions, newest first.
MAX_LISTED_VERSIONS = 100
POLICY_EXPORTED = "export.policy"


class UnknownPolicyVersion(LookupError):
    """A version number that was never imported."""


def policy_versions(limit: int = MAX_LISTED_VERSIONS) -> list[TaggingPolicy]:
    """The newest versions first, without their documents (the history shows none of it)."""
    return list(TaggingPolicy.objects.defer("document", "source_text").order_by("-version")[:limit])


def policy_version(version: int) -> TaggingPolicy:
    found = TaggingPolicy.objects.filter(version=version).first()
    if found is None:
        raise UnknownPolicyVersion(f"policy version {version} does not exist")
    return found


def previous_version(of: TaggingPolicy) -> TaggingPolicy | None:
    """The version imported before ``of`` (by number), ``None`` for the first one."""
    return TaggingPolicy.objects.filter(version__lt=of.version).order_by("-version").first()


def read_policy(row: TaggingPolicy) -> policy.Policy:
    """The stored native document as a policy; it was validated when it was imported."""
    return policy.policy_from_dict(row.document)


def export_aws_tag_policy(
    viewer: Viewer, *, interface: str, client_address: str | None = None
) -> str:
    """The active policy as an AWS Organizations tag policy, with its audit row; a refusal
    (no active policy) is audited too and raises :class:`exports.ExportError`."""
    active = selectors.active_policy()
    try:
        text = exports.aws_org_policy(viewer)
    except exports.ExportError as exc:
        with transaction.atomic():
            audit.record(
                POLICY_EXPORTED,
                acting=viewer,
                target="aws-tag-policy",
                outcome=AuditEvent.Outcome.ERROR,
                interface=interface,
                client_address=client_address,
                detail={"error": str(exc)},
            )
        raise
    with transaction.atomic():
        audit.record(
            POLICY_EXPORTED,
            acting=viewer,
            target="aws-tag-policy",
            interface=interface,
            client_address=client_address,
            detail={"format": "aws_org", "policy_version": active.version if active else None},
        )
    return text
