"""Importing the tagging policy as a new active version; a refused document changes nothing."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from compliance import audit
from compliance.audit.events import EventType
from compliance.core import policy
from compliance.models import (
    TaggingPolicy,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Viewer,
    viewer_label,
)
from compliance.stored import costs as stored_costs
from compliance.stored.showback import refresh_showback
from compliance.writes.refusals import policy_type_problem, refuse, require


def do_import_policy(
    text: str, *, source: str = "", acting: Viewer, interface: str = "cli"
) -> TaggingPolicy:
    """Import a policy document as the new active version; a bad one changes nothing."""
    require(acting, Action.IMPORT_POLICY, interface=interface, target=source)
    try:
        parsed = policy.parse_policy(text)
    except policy.PolicyError as exc:
        raise refuse(
            EventType.POLICY_REJECTED, str(exc), acting=acting, target=source, interface=interface
        ) from None
    if (problem := policy_type_problem(parsed)) is not None:
        raise refuse(
            EventType.POLICY_REJECTED, problem, acting=acting, target=source, interface=interface
        )
    with transaction.atomic():
        # Lock the active row so two imports cannot both take the same next version.
        list(TaggingPolicy.objects.select_for_update().filter(is_active=True))
        latest = TaggingPolicy.objects.aggregate(latest=Max("version"))["latest"] or 0
        TaggingPolicy.objects.filter(is_active=True).update(is_active=False)
        imported = TaggingPolicy.objects.create(
            version=latest + 1,
            name=parsed.name,
            source_format=parsed.source_format,
            document=policy.policy_to_dict(parsed),
            source_text=text,
            is_active=True,
            created_by=viewer_label(acting),
        )
        audit.record(
            EventType.POLICY_IMPORTED,
            acting=acting,
            target=f"policy v{imported.version}",
            interface=interface,
            detail={
                "source": source,
                "format": parsed.source_format,
                "required_tags": [rule.name for rule in parsed.required_tags],
            },
        )
        stored_costs.judge_billed_resources()  # the bill's resources, by the new policy
        refresh_showback()  # which values are valid, and which keys are stored
    return imported


def do_reject_policy_file(source: str, error: str, *, acting: Viewer) -> None:
    """A policy file that could not even be read is a refused import: audited, nothing else."""
    refuse(EventType.POLICY_REJECTED, error, acting=acting, target=source)
