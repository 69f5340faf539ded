"""Every write goes through a ``do_<verb>_<noun>`` function here.

Each runs in one transaction and records its ``AuditEvent`` in that same transaction, so there is
no state change without its audit row. A refusal (bad input) is audited in a transaction of its
own and changes nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from compliance import audit, billing, organizations, policy, resource_costs, retention
from compliance.access import (
    NarrowedViewer,
    Operator,
    Viewer,
    sees_all_accounts,
    viewer_label,
    visible_accounts,
)
from compliance.aws import RESOURCE_TYPES, cost_explorer
from compliance.aws import organizations as aws_organizations
from compliance.models import (
    MAX_EXEMPTION_LIFETIME,
    AuditEvent,
    AwsAccount,
    BillingImport,
    CostExplorerFigure,
    CostLine,
    Exemption,
    Resource,
    Scan,
    TaggingPolicy,
)

REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
#: ASCII digits only (``\\d`` would take any script's digits).
ACCOUNT_ID_PATTERN = re.compile(r"[0-9]{12}")


class ActionError(ValueError):
    """Bad input to an action: the message is safe to show to the person who asked."""


def _refuse(
    event_type: AuditEvent.EventType | str,
    message: str,
    *,
    acting: Viewer,
    target: str = "",
    interface: str = "cli",
    outcome: AuditEvent.Outcome = AuditEvent.Outcome.DENIED,
) -> ActionError:
    """Audit a refused (or, with ``outcome=error``, failed) action; the error to raise."""
    with transaction.atomic():
        audit.record(
            event_type,
            acting=acting,
            target=target,
            outcome=outcome,
            interface=interface,
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
    """Create a queued scan after checking its scope; the caller runs or enqueues it.

    A person scans only accounts they can see: without ``account_ids``, a person who does not
    see every account scans exactly their visible accounts (the scan row names them, so it never
    grows to accounts granted later). An account they cannot see is refused with the words used
    for an unknown one, so the refusal does not tell which account ids exist. Operators may
    scan any registered account.
    """
    try:
        region_list = validate_regions(regions)
        type_list = validate_resource_types(resource_types)
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
        raise _refuse(
            AuditEvent.EventType.SCAN_REQUESTED, str(exc), acting=acting, interface=interface
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


def do_import_costs(
    source: str,
    *,
    fmt: str | None = None,
    acting: Viewer,
    on_progress: billing.reader.ProgressCallback | None = None,
) -> list[BillingImport]:
    """Import a FOCUS or CUR 2.0 bill: one ``BillingImport`` per billing period in the file.

    The whole file is read and checked before anything is written, then every period is stored
    in one transaction, so a malformed bill changes nothing. A period replaces the cost lines
    that an earlier import of the same format stored for the same period and accounts: importing
    a bill twice never counts its money twice.
    """
    try:
        bill = billing.read_bill(source, fmt, on_progress=on_progress)
    except billing.BillError as exc:
        raise _refuse(
            AuditEvent.EventType.COSTS_REJECTED, str(exc), acting=acting, target=source
        ) from None
    with transaction.atomic():
        stored = [_store_billing_period(bill, period, acting) for period in bill.periods]
        # Each resource's cost and the attribution, stored for the pages that show them.
        resource_costs.refresh_costs()
        audit.record(
            AuditEvent.EventType.COSTS_IMPORTED,
            acting=acting,
            target=source,
            detail={
                "format": bill.format,
                "currency": bill.currency,
                "rows": bill.row_count,
                "periods": [
                    {
                        "start": imported.billing_period_start.isoformat(),
                        "end": imported.billing_period_end.isoformat(),
                        "accounts": imported.account_ids,
                        "rows": imported.row_count,
                        "lines": imported.line_count,
                        "replaced_lines": replaced,
                        "effective_total": str(imported.effective_total),
                        "billed_total": str(imported.billed_total),
                        "by_category": imported.totals_by_category,
                    }
                    for imported, replaced in stored
                ],
            },
        )
    return [imported for imported, _ in stored]


def _store_billing_period(
    bill: billing.Bill, period: billing.BillPeriod, acting: Viewer
) -> tuple[BillingImport, int]:
    """Replace the stored lines of this format, period and accounts with the bill's."""
    accounts = period.account_ids
    previous = CostLine.objects.filter(
        source_format=bill.format, billing_period_start=period.start, account_id__in=accounts
    )
    touched = set(previous.values_list("billing_import_id", flat=True))
    replaced = previous.count()
    previous.delete()
    # An import none of whose lines are left has been replaced as a whole.
    BillingImport.objects.filter(pk__in=touched).exclude(
        pk__in=CostLine.objects.filter(billing_import_id__in=touched).values("billing_import_id")
    ).update(status=BillingImport.Status.REPLACED)
    imported = BillingImport.objects.create(
        source=bill.source[:2048],
        source_format=bill.format,
        billing_period_start=period.start,
        billing_period_end=period.end,
        account_ids=accounts,
        row_count=period.row_count,
        line_count=len(period.lines),
        currency=bill.currency,
        effective_total=period.effective_total,
        billed_total=period.billed_total,
        totals_by_category={k: str(v) for k, v in period.totals_by_category().items()},
        imported_by=viewer_label(acting),
    )
    CostLine.objects.bulk_create(
        (
            CostLine(
                billing_import=imported,
                source_format=bill.format,
                billing_period_start=period.start,
                account_id=line.account_id,
                region=line.region,
                service=line.service,
                resource_id=line.resource_id,
                charge_category=line.charge_category,
                effective_cost=line.effective_cost,
                billed_cost=line.billed_cost,
                row_count=line.row_count,
            )
            for line in period.lines
        ),
        batch_size=2000,
    )
    return imported, replaced


MAX_FETCH_MONTHS = 12


def do_fetch_costs(
    months: int = 3, *, acting: Viewer, today: date | None = None
) -> list[CostExplorerFigure]:
    """Pull the last ``months`` complete calendar months from Cost Explorer, for every enabled
    account: cost by service and region, and by each required tag key of the active policy.

    Each fetched (month, account) replaces the figures stored for it before. Nothing is written
    unless every request succeeded; a failure is audited and changes nothing.
    """
    if not 1 <= months <= MAX_FETCH_MONTHS:
        raise _refuse(
            AuditEvent.EventType.COSTS_FETCHED,
            f"months: between 1 and {MAX_FETCH_MONTHS}, not {months}",
            acting=acting,
        )
    end = (today or timezone.now().date()).replace(day=1)
    start = end
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    accounts = sorted(AwsAccount.objects.filter(enabled=True).values_list("account_id", flat=True))
    active = TaggingPolicy.objects.filter(is_active=True).first()
    tag_keys = [rule["name"] for rule in active.document.get("required_tags", [])] if active else []
    target = f"{start:%Y-%m} to {end:%Y-%m} (exclusive)"
    try:
        fetched = cost_explorer.fetch_cost_figures(accounts, tag_keys, start, end)
    except cost_explorer.CostExplorerError as exc:
        raise _refuse(
            AuditEvent.EventType.COSTS_FETCHED,
            str(exc),
            acting=acting,
            target=target,
        ) from None
    with transaction.atomic():
        starts = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in _months(start, end)]
        replaced, _ = CostExplorerFigure.objects.filter(
            period_start__in=starts, account_id__in=accounts
        ).delete()
        stored = CostExplorerFigure.objects.bulk_create(
            CostExplorerFigure(
                period_start=datetime(f.period_start.year, f.period_start.month, 1, tzinfo=UTC),
                period_end=datetime(
                    f.period_end.year, f.period_end.month, f.period_end.day, tzinfo=UTC
                ),
                account_id=f.account_id,
                region=f.region,
                dimension=f.dimension,
                tag_key=f.tag_key,
                key=f.key,
                amount=f.amount,
                currency=f.currency,
            )
            for f in fetched
        )
        resource_costs.refresh_costs()
        audit.record(
            AuditEvent.EventType.COSTS_FETCHED,
            acting=acting,
            target=target,
            detail={
                "accounts": accounts,
                "tag_keys": tag_keys,
                "metric": cost_explorer.METRIC,
                "figures": len(stored),
                "replaced_figures": replaced,
                "service_total": str(
                    sum((f.amount for f in fetched if f.dimension == "service"), Decimal(0))
                ),
            },
        )
    return stored


def _months(start: date, end: date) -> list[date]:
    firsts = []
    while start < end:
        firsts.append(start)
        start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return firsts


# --- Exemptions ---------------------------------------------------------------------------------


def _may(acting: Viewer, permission: str) -> bool:
    """Operators may do anything; people need the model permission (the admin grants it),
    also when acting through a narrowed credential."""
    if isinstance(acting, Operator):
        return True
    user = acting.user if isinstance(acting, NarrowedViewer) else acting
    return isinstance(user, PermissionsMixin) and user.is_active and user.has_perm(permission)


def _exemption_account(*, resource_arn: str, account_id: str, acting: Viewer) -> AwsAccount | None:
    """The account an exemption is limited to: named, or the one of its resource; None for
    every account, which only someone who sees every account may exempt."""
    visible = visible_accounts(acting)
    account = None
    if account_id:
        account = visible.filter(account_id=account_id).first()
        if account is None:
            raise ActionError(f"account_id: {account_id!r} is not registered or not visible to you")
    if resource_arn:
        if not resource_arn.startswith("arn:") or len(resource_arn) > 2048:
            raise ActionError(f"resource_arn: {resource_arn[:100]!r} is not an ARN")
        resource = (
            Resource.objects.filter(arn=resource_arn, account__in=visible)
            .select_related("account")
            .first()
        )
        if resource is None:
            raise ActionError(
                f"resource_arn: {resource_arn} is not in the inventory or not visible to you"
            )
        if account is not None and account.pk != resource.account_id:
            raise ActionError(
                f"account_id: {resource_arn} belongs to account {resource.account.account_id}, "
                f"not {account_id}"
            )
        account = resource.account
    if account is None and not sees_all_accounts(acting):
        raise ActionError(
            "account_id: an exemption without an account or ARN applies to every account, "
            "which needs access to every account; name an account you can see"
        )
    return account


def _exemption_tag_key(tag_key: str) -> str:
    """The required tag as the active policy spells it, so ``owner`` exempts ``Owner``."""
    if not tag_key:
        return ""
    active = TaggingPolicy.objects.filter(is_active=True).first()
    if active is None:
        return tag_key
    required = [rule["name"] for rule in active.document.get("required_tags", [])]
    for name in required:
        if name.casefold() == tag_key.casefold():
            return str(name)
    raise ActionError(
        f"tag_key: {tag_key!r} is not a required tag of the active policy "
        f"(required: {', '.join(required)})"
    )


def _check_expiry(expires_at: datetime, now: datetime) -> datetime:
    if not isinstance(expires_at, datetime) or timezone.is_naive(expires_at):
        raise ActionError("expires_at: give a date and time with a time zone")
    if expires_at <= now:
        raise ActionError(f"expires_at: {expires_at.isoformat()} is not in the future")
    latest = now + MAX_EXEMPTION_LIFETIME
    if expires_at > latest:
        raise ActionError(
            f"expires_at: at most {MAX_EXEMPTION_LIFETIME.days} days ahead "
            f"(no later than {latest:%Y-%m-%d}); renew it when it expires"
        )
    return expires_at


def do_create_exemption(
    *,
    reason: str,
    owner: str,
    expires_at: datetime,
    resource_arn: str = "",
    resource_type: str = "",
    account_id: str = "",
    tag_key: str = "",
    acting: Viewer,
    interface: str = "cli",
) -> Exemption:
    """Exempt the violations matching every matcher given, until ``expires_at``.

    The exemption takes effect on every figure at once (figures apply exemptions when read)
    and stops by itself at its expiry. Refused, audited and without effect when a matcher is
    unknown or not visible to the person asking, the reason or owner is missing, or the expiry
    is not within the maximum lifetime.
    """
    resource_arn, resource_type = resource_arn.strip(), resource_type.strip()
    account_id, tag_key, reason = account_id.strip(), tag_key.strip(), reason.strip()
    target = resource_arn or account_id or resource_type or tag_key
    try:
        if not _may(acting, "compliance.add_exemption"):
            raise ActionError("permission: you may not create exemptions")
        if not (resource_arn or resource_type or account_id or tag_key):
            raise ActionError(
                "matcher: give at least one of resource_arn, resource_type, account_id, tag_key"
            )
        if resource_type and resource_type not in RESOURCE_TYPES:
            raise ActionError(
                f"resource_type: unknown resource type {resource_type!r}; "
                f"supported: {', '.join(RESOURCE_TYPES)}"
            )
        account = _exemption_account(
            resource_arn=resource_arn, account_id=account_id, acting=acting
        )
        tag_key = _exemption_tag_key(tag_key)
        if not reason:
            raise ActionError("reason: say why these violations are accepted")
        if len(reason) > 2000:
            raise ActionError("reason: longer than 2000 characters")
        owner_user = get_user_model().objects.filter(username=owner, is_active=True).first()
        if owner_user is None:
            raise ActionError(f"owner: no active user named {owner!r}")
        _check_expiry(expires_at, timezone.now())
    except ActionError as exc:
        raise _refuse(
            AuditEvent.EventType.EXEMPTION_CREATED, str(exc), acting=acting, target=target
        ) from None
    with transaction.atomic():
        exemption = Exemption.objects.create(
            resource_arn=resource_arn,
            resource_type=resource_type,
            account=account,
            tag_key=tag_key,
            reason=reason,
            owner=owner_user,
            created_by=viewer_label(acting),
            expires_at=expires_at,
        )
        _refresh_figures_for_exemptions(at_expiry=expires_at)
        audit.record(
            AuditEvent.EventType.EXEMPTION_CREATED,
            acting=acting,
            target=f"exemption #{exemption.pk}",
            interface=interface,
            detail=_exemption_detail(exemption),
        )
    return exemption


def do_remove_exemption(exemption_id: int, *, acting: Viewer, interface: str = "cli") -> None:
    """Remove an exemption: its violations count again from this moment. The audit row keeps
    what it was."""
    target = f"exemption #{exemption_id}"
    try:
        if not _may(acting, "compliance.delete_exemption"):
            raise ActionError("permission: you may not remove exemptions")
        visible = Exemption.objects.filter(
            Q(account__isnull=True) | Q(account__in=visible_accounts(acting))
        )
        exemption = visible.select_related("account", "owner").filter(pk=exemption_id).first()
        if exemption is None:
            raise ActionError(f"exemption: #{exemption_id} not found or not visible to you")
        if exemption.account_id is None and not sees_all_accounts(acting):
            raise ActionError(
                "exemption: it applies to every account; removing it needs access to every account"
            )
    except ActionError as exc:
        raise _refuse(
            AuditEvent.EventType.EXEMPTION_REMOVED, str(exc), acting=acting, target=target
        ) from None
    with transaction.atomic():
        detail = _exemption_detail(exemption)
        exemption.delete()
        _refresh_figures_for_exemptions()
        audit.record(
            AuditEvent.EventType.EXEMPTION_REMOVED,
            acting=acting,
            target=target,
            interface=interface,
            detail=detail,
        )


def _refresh_figures_for_exemptions(*, at_expiry: datetime | None = None) -> None:
    """Queue the refresh of the stored figures that exemptions change, in the caller's
    transaction (a worker sees it only once the change is committed): now, and again at
    ``at_expiry`` when the exemption stops by itself."""
    from compliance.tasks import refresh_stored_figures_task  # that module imports the scans

    refresh_stored_figures_task.enqueue()
    if at_expiry is not None:
        refresh_stored_figures_task.using(run_after=at_expiry).enqueue()


def _exemption_detail(exemption: Exemption) -> dict[str, object]:
    return {
        "resource_arn": exemption.resource_arn,
        "resource_type": exemption.resource_type,
        "account_id": exemption.account.account_id if exemption.account else "",
        "tag_key": exemption.tag_key,
        "reason": exemption.reason,
        "owner": exemption.owner.get_username(),
        "expires_at": exemption.expires_at.isoformat(),
    }


# --- Account discovery and retention ------------------------------------------------------------
ACCOUNTS_DISCOVERED = "accounts.discovered"
RETENTION_PRUNED = "retention.pruned"
#: What AWS accepts as an external id.
EXTERNAL_ID_PATTERN = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)


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

    See :func:`compliance.organizations.plan_discovery` for what changes. A dry run lists the
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


def do_prune(
    *,
    scan_days: int,
    audit_days: int,
    batch_size: int,
    dry_run: bool = False,
    acting: Viewer,
    now: datetime | None = None,
    on_batch: retention.OnBatch | None = None,
) -> retention.PruneCounts:
    """Delete scans and audit events past their retention, ``batch_size`` rows per transaction
    (:mod:`compliance.retention` says what is never deleted).

    Unlike other actions this is many transactions, so its one audit row is written after the
    last batch, with the cutoffs and counts; after a failure, with the counts so far and the
    error. Written after the cutoff, it is never pruned by the run it records. A dry run
    counts what would go and writes nothing.
    """
    try:
        if not _may(acting, "compliance.delete_scan"):
            raise ActionError("retention: pruning needs the 'delete scan' permission")
        if batch_size < 1:
            raise ActionError(f"batch_size: at least 1, got {batch_size}")
        cutoffs = retention.Cutoffs.from_days(
            now or timezone.now(), scan_days=scan_days, audit_days=audit_days
        )
    except (ActionError, ValueError) as exc:
        raise _refuse(RETENTION_PRUNED, str(exc), acting=acting) from None
    if dry_run:
        return retention.count_prunable(cutoffs)
    detail: dict[str, object] = {
        "scan_retention_days": scan_days,
        "audit_retention_days": audit_days,
        "scans_before": cutoffs.scans_before.isoformat(),
        "audit_before": cutoffs.audit_before.isoformat(),
        "batch_size": batch_size,
    }
    so_far: dict[str, int] = {}

    def count(batch: retention.Batch) -> None:
        so_far[batch.table] = batch.total
        if on_batch is not None:
            on_batch(batch)

    try:
        counts = retention.prune(cutoffs, batch_size=batch_size, on_batch=count)
    except BaseException as exc:
        with transaction.atomic():
            audit.record(
                RETENTION_PRUNED,
                acting=acting,
                outcome=AuditEvent.Outcome.ERROR,
                detail={**detail, "deleted": so_far, "error": str(exc) or type(exc).__name__},
            )
        raise
    with transaction.atomic():
        audit.record(
            RETENTION_PRUNED,
            acting=acting,
            detail={**detail, "deleted": counts.as_dict(), "kept_scans": counts.kept_scans},
        )
    return counts
