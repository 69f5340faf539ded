"""Every write goes through a ``do_<verb>_<noun>`` function here.

Each runs in one transaction and records its ``AuditEvent`` in that same transaction, so there is
no state change without its audit row. A refusal (bad input) is audited in a transaction of its
own and changes nothing else."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance import audit
from compliance.aws import organizations as aws_organizations
from compliance.models import (
    AuditEvent,
    AwsAccount,
)
from compliance.permissions.accounts import (
    Viewer,
)
from compliance.writes import discovery as organizations
from compliance.writes.refusals import (
    ACCOUNT_ID_PATTERN,
    ACCOUNTS_DISCOVERED,
    EXTERNAL_ID_PATTERN,
    ActionError,
    _may,
    _refuse,
    validate_regions,
)


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
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise _refuse(
            AuditEvent.EventType.ACCOUNT_ADDED,
            "account_id: An AWS account id is 12 digits.",
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
    try:
        if not _may(acting, "compliance.add_awsaccount"):
            raise ActionError(
                "accounts: registering accounts needs the 'add AWS account' permission"
            )
        if not organizations.ROLE_NAME_PATTERN.fullmatch(role_name):
            raise ActionError(
                f"role_name: {role_name[:100]!r} is not an IAM role name (e.g. TagComplianceReader)"
            )
        if external_id and not EXTERNAL_ID_PATTERN.fullmatch(external_id):
            raise ActionError("external_id: 2 to 1224 characters of letters, digits and +=,.@:/-")
        region_list = validate_regions(regions)
    except ActionError as exc:
        raise _refuse(ACCOUNTS_DISCOVERED, str(exc), acting=acting, target=target) from None
    try:
        organization = aws_organizations.list_member_accounts()
    except aws_organizations.OrganizationsError as exc:
        raise _refuse(
            ACCOUNTS_DISCOVERED,
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
                ACCOUNTS_DISCOVERED,
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
        raise _refuse(ACCOUNTS_DISCOVERED, message, acting=acting, target=target) from None
    return planned
