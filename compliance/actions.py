"""Every write goes through a ``do_<verb>_<noun>`` function here.

Each runs in one transaction and records its ``AuditEvent`` in that same transaction, so there is
no state change without its audit row. A refusal (bad input) is audited in a transaction of its
own and changes nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from compliance import audit, policy
from compliance.access import Viewer, viewer_label
from compliance.aws import RESOURCE_TYPES
from compliance.models import AuditEvent, AwsAccount, Scan, TaggingPolicy

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


class ActionError(ValueError):
    """Bad input to an action: the message is safe to show to the person who asked."""


def _refuse(
    event_type: AuditEvent.EventType, message: str, *, acting: Viewer, target: str = ""
) -> ActionError:
    with transaction.atomic():
        audit.record(
            event_type,
            acting=acting,
            target=target,
            outcome=AuditEvent.Outcome.DENIED,
            detail={"error": message},
        )
    return ActionError(message)


def validate_regions(regions: Sequence[str]) -> list[str]:
    cleaned = []
    for region in regions:
        if not REGION_PATTERN.fullmatch(region):
            raise ActionError(f"regions: {region!r} is not an AWS region name (e.g. eu-west-1)")
        cleaned.append(region)
    return sorted(set(cleaned))


def validate_resource_types(types: Sequence[str]) -> list[str]:
    unknown = sorted(set(types) - set(RESOURCE_TYPES))
    if unknown:
        raise ActionError(
            f"types: unknown resource type(s) {', '.join(unknown)}; "
            f"supported: {', '.join(RESOURCE_TYPES)}"
        )
    return sorted(set(types))


def do_add_account(
    *,
    account_id: str,
    name: str,
    role_arn: str = "",
    external_id: str = "",
    regions: Sequence[str] = (),
    acting: Viewer,
) -> AwsAccount:
    """Register an account, or update the registration when the id is already known."""
    try:
        region_list = validate_regions(regions)
    except ActionError as exc:
        raise _refuse(
            AuditEvent.EventType.ACCOUNT_ADDED, str(exc), acting=acting, target=account_id
        ) from None
    if external_id and not role_arn:
        raise _refuse(
            AuditEvent.EventType.ACCOUNT_ADDED,
            "external_id: only meaningful with a role ARN",
            acting=acting,
            target=account_id,
        )
    existing = AwsAccount.objects.filter(account_id=account_id).first()
    account = existing or AwsAccount(account_id=account_id)
    account.name = name
    account.role_arn = role_arn
    account.external_id = external_id
    account.regions = region_list
    try:
        account.full_clean()
    except ValidationError as exc:
        message = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
        )
        raise _refuse(
            AuditEvent.EventType.ACCOUNT_ADDED, message, acting=acting, target=account_id
        ) from None
    event = AuditEvent.EventType.ACCOUNT_CHANGED if existing else AuditEvent.EventType.ACCOUNT_ADDED
    with transaction.atomic():
        account.save()
        audit.record(
            event,
            acting=acting,
            target=account_id,
            detail={
                "name": name,
                "role_arn": role_arn,
                "external_id_set": bool(external_id),
                "regions": region_list,
            },
        )
    return account


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


def do_request_scan(
    *,
    account_ids: Sequence[str] = (),
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    trigger: str = "cli",
    acting: Viewer,
    interface: str = "cli",
) -> Scan:
    """Create a queued scan after checking its scope; the caller runs or enqueues it."""
    try:
        region_list = validate_regions(regions)
        type_list = validate_resource_types(resource_types)
        account_list = sorted(set(account_ids))
        known = set(
            AwsAccount.objects.filter(account_id__in=account_list).values_list(
                "account_id", flat=True
            )
        )
        missing = [a for a in account_list if a not in known]
        if missing:
            raise ActionError(
                f"account: not registered: {', '.join(missing)} (add it with add_account)"
            )
        if not AwsAccount.objects.filter(enabled=True).exists():
            raise ActionError("account: no AWS account is registered (add one with add_account)")
        active = TaggingPolicy.objects.filter(is_active=True).first()
        if active is None:
            raise ActionError("policy: no tagging policy is active (import one with import_policy)")
    except ActionError as exc:
        raise _refuse(AuditEvent.EventType.SCAN_REQUESTED, str(exc), acting=acting) from None
    with transaction.atomic():
        scan = Scan.objects.create(
            requested_by=viewer_label(acting),
            trigger=trigger,
            account_ids=account_list,
            regions=region_list,
            resource_types=type_list,
            policy=active,
        )
        audit.record(
            AuditEvent.EventType.SCAN_REQUESTED,
            acting=acting,
            target=f"scan #{scan.pk}",
            interface=interface,
            detail={
                "accounts": account_list,
                "regions": region_list,
                "types": type_list,
                "trigger": trigger,
            },
        )
    return scan


def do_start_scan(
    *,
    account_ids: Sequence[str] = (),
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    acting: Viewer,
    interface: str = "cli",
) -> Scan:
    """Queue a scan for the task worker (``manage.py db_worker``)."""
    from compliance.tasks import run_scan_task

    scan = do_request_scan(
        account_ids=account_ids,
        regions=regions,
        resource_types=resource_types,
        trigger="task",
        acting=acting,
        interface=interface,
    )
    result = run_scan_task.enqueue(scan.pk)
    Scan.objects.filter(pk=scan.pk).update(task_id=str(result.id))
    scan.task_id = str(result.id)
    return scan
