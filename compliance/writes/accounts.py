"""Registering AWS accounts, one at a time or every member of an AWS Organization."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.aws import organizations as aws_organizations
from compliance.models import (
    AuditEvent,
    AwsAccount,
)
from compliance.permissions import Action
from compliance.permissions.accounts import (
    Viewer,
)
from compliance.writes import discovery as organizations
from compliance.writes.refusals import (
    ActionError,
    refuse,
    require,
    validate_regions,
)

#: ASCII digits only (``\\d`` would take any script's digits).
ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")
#: What AWS accepts as an external id.
EXTERNAL_ID_PATTERN = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)


def do_add_account(
    *,
    account_id: str,
    name: str,
    role_arn: str = "",
    external_id: str = "",
    regions: Sequence[str] = (),
    enabled: bool | None = None,
    acting: Viewer,
    interface: str = "cli",
) -> AwsAccount:
    """Register an account, or update the registration when the id is already known
    (``enabled``: switch scanning it on or off; ``None`` keeps it as it is)."""
    require(acting, Action.MANAGE_ACCOUNTS, interface=interface, target=account_id)
    try:
        region_list = validate_regions(regions)
    except ActionError as exc:
        raise refuse(
            EventType.ACCOUNT_ADDED, str(exc), acting=acting, interface=interface, target=account_id
        ) from None
    if external_id and not role_arn:
        raise refuse(
            EventType.ACCOUNT_ADDED,
            "external_id: only meaningful with a role ARN",
            acting=acting,
            interface=interface,
            target=account_id,
        )
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise refuse(
            EventType.ACCOUNT_ADDED,
            "account_id: An AWS account id is 12 digits.",
            acting=acting,
            interface=interface,
            target=account_id,
        )
    existing = AwsAccount.objects.filter(account_id=account_id).first()
    account = existing or AwsAccount(account_id=account_id)
    account.name = name
    account.role_arn = role_arn
    account.external_id = external_id
    account.regions = region_list
    if enabled is not None:
        account.enabled = enabled
    try:
        account.full_clean()
    except ValidationError as exc:
        message = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
        )
        raise refuse(
            EventType.ACCOUNT_ADDED, message, acting=acting, interface=interface, target=account_id
        ) from None
    event = EventType.ACCOUNT_CHANGED if existing else EventType.ACCOUNT_ADDED
    with transaction.atomic():
        account.save()
        audit.record(
            event,
            acting=acting,
            target=account_id,
            interface=interface,
            detail={
                "name": name,
                "role_arn": role_arn,
                "external_id_set": bool(external_id),
                "regions": region_list,
                "enabled": account.enabled,
            },
        )
    return account


def do_discover_accounts(
    *,
    role_name: str,
    external_id: str = "",
    regions: Sequence[str] = (),
    dry_run: bool = False,
    acting: Viewer,
) -> organizations.DiscoveryPlan:
    """Register every active account of the AWS Organization the default credentials
    administer (management account or delegated administrator), each reached by assuming
    ``role_name``; update the registered ones; one audit row sums it all up.

    See :func:`compliance.writes.discovery.plan_discovery` for what changes. A dry run lists the
    organisation and returns the plan, writing nothing. A refusal (bad input, no permission,
    Organizations refusing the listing) is audited and changes nothing.
    """
    target = f"role {role_name}"[:2048]
    require(acting, Action.MANAGE_ACCOUNTS, target=target)
    try:
        if not organizations.ROLE_NAME_PATTERN.fullmatch(role_name):
            raise ActionError(
                f"role_name: {role_name[:100]!r} is not an IAM role name (e.g. TagComplianceReader)"
            )
        if external_id and not EXTERNAL_ID_PATTERN.fullmatch(external_id):
            raise ActionError("external_id: 2 to 1224 characters of letters, digits and +=,.@:/-")
        region_list = validate_regions(regions)
    except ActionError as exc:
        raise refuse(
            EventType.ACCOUNTS_DISCOVERED, str(exc), acting=acting, target=target
        ) from None
    try:
        organization = aws_organizations.list_member_accounts()
    except aws_organizations.OrganizationsError as exc:
        raise refuse(
            EventType.ACCOUNTS_DISCOVERED,
            str(exc),
            acting=acting,
            target=target,
            outcome=AuditEvent.Outcome.ERROR,
        ) from None
    try:
        with transaction.atomic():
            planned = organizations.plan_discovery(
                organization, role_name=role_name, external_id=external_id, regions=region_list
            )
            if dry_run:
                return planned
            for account in organizations.registered_accounts(planned):
                account.full_clean()
                account.save()
            audit.record(
                EventType.ACCOUNTS_DISCOVERED,
                acting=acting,
                target=f"organization, from account {organization.caller_account_id}",
                detail={
                    "role_name": role_name,
                    "external_id_set": bool(external_id),
                    "regions": region_list,
                    **planned.summary(),
                },
            )
    except ValidationError as exc:
        message = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
        )
        raise refuse(EventType.ACCOUNTS_DISCOVERED, message, acting=acting, target=target) from None
    return planned
