"""Every write goes through a ``do_<verb>_<noun>`` function here.

Each runs in one transaction and records its ``AuditEvent`` in that same transaction, so there is
no state change without its audit row. A refusal (bad input) is audited in a transaction of its
own and changes nothing else."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from compliance import audit
from compliance.core import policy
from compliance.models import (
    AuditEvent,
    TaggingPolicy,
)
from compliance.permissions.accounts import (
    Viewer,
    viewer_label,
)
from compliance.writes.refusals import _refuse


def do_import_policy(text: str, *, source: str = "", acting: Viewer) -> TaggingPolicy:
    """Import a policy document as the new active version; a bad one changes nothing."""
    try:
        parsed = policy.parse_policy(text)
    except policy.PolicyError as exc:
        raise _refuse(
            AuditEvent.EventType.POLICY_REJECTED, str(exc), acting=acting, target=source
        ) from None
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
            AuditEvent.EventType.POLICY_IMPORTED,
            acting=acting,
            target=f"policy v{imported.version}",
            detail={
                "source": source,
                "format": parsed.source_format,
                "required_tags": [rule.name for rule in parsed.required_tags],
            },
        )
    return imported
