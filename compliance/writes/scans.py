"""Requesting a scan (its scope checked against what the caller may see) and queueing it for the
task workers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import (
    AwsAccount,
    Scan,
    TaggingPolicy,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Operator,
    Viewer,
    sees_all_accounts,
    viewer_label,
    visible_accounts,
)
from compliance.writes.refusals import (
    ActionError,
    refuse,
    require,
    validate_regions,
    validate_resource_types,
)


def do_request_scan(
    *,
    account_ids: Sequence[str] = (),
    regions: Sequence[str] = (),
    resource_types: Sequence[str] = (),
    trigger: str = "cli",
    acting: Viewer,
    interface: str = "cli",
) -> Scan:
    """Create a queued scan after checking its scope; the caller runs or enqueues it.

    A person scans only accounts they can see: without ``account_ids``, a person who does not
    see every account scans exactly their visible accounts (the scan row names them, so it never
    grows to accounts granted later). An account they cannot see is refused with the words used
    for an unknown one, so the refusal does not tell which account ids exist. Operators may
    scan any registered account.
    """
    require(acting, Action.START_SCAN, interface=interface)
    try:
        region_list = validate_regions(regions)
        type_list = validate_resource_types(resource_types or settings.SCAN_DEFAULT_TYPES)
        account_list = sorted(set(account_ids))
        visible = visible_accounts(acting)  # every registered account, for an operator
        if account_list:
            seen = set(
                visible.filter(account_id__in=account_list).values_list("account_id", flat=True)
            )
            if missing := [a for a in account_list if a not in seen]:
                raise ActionError(
                    f"account: not registered: {', '.join(missing)} (add it with add_account)"
                    if isinstance(acting, Operator)
                    else f"account: not found or not visible to you: {', '.join(missing)}"
                )
        elif not sees_all_accounts(acting):
            account_list = sorted(visible.values_list("account_id", flat=True))
            if not account_list:
                raise ActionError(
                    "account: you may not see any account, so there is nothing to scan "
                    "(an admin can grant you accounts)"
                )
        if not AwsAccount.objects.filter(enabled=True).exists():
            raise ActionError("account: no AWS account is registered (add one with add_account)")
        active = TaggingPolicy.objects.filter(is_active=True).first()
        if active is None:
            raise ActionError("policy: no tagging policy is active (import one with import_policy)")
    except ActionError as exc:
        raise refuse(
            EventType.SCAN_REQUESTED, str(exc), acting=acting, interface=interface
        ) from None
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
            EventType.SCAN_REQUESTED,
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
    """Queue a scan for the task workers (``manage.py db_worker``).

    With ``SCAN_FANOUT`` (the default) the scan is split into one task per account x region,
    shared by every worker (``compliance.scans.fanout``); without, one task runs it whole.
    """
    from compliance.scans.tasks import start_scan_task
    from compliance.tasks import run_scan_task

    scan = do_request_scan(
        account_ids=account_ids,
        regions=regions,
        resource_types=resource_types,
        trigger="task",
        acting=acting,
        interface=interface,
    )
    starter = start_scan_task if settings.SCAN_FANOUT else run_scan_task
    result = starter.enqueue(scan.pk)
    Scan.objects.filter(pk=scan.pk).update(task_id=str(result.id))
    scan.task_id = str(result.id)
    return scan
