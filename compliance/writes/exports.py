"""Exports for other tools, each checked against the caller's rights and audited."""

from __future__ import annotations

from django.db import transaction

from compliance import audit
from compliance.models import AuditEvent
from compliance.permissions.accounts import Viewer
from compliance.reads import exports
from compliance.reads.policy import active_policy

POLICY_EXPORTED = "export.policy"


def export_aws_tag_policy(
    viewer: Viewer, *, interface: str, client_address: str | None = None
) -> str:
    """The active policy as an AWS Organizations tag policy, with its audit row; a refusal
    (no active policy) is audited too and raises :class:`exports.ExportError`."""
    active = active_policy()
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
