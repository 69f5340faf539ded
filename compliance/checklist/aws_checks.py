"""Checklist items answered by read-only AWS calls (through ``compliance.aws.checklist_checks``).

An AWS error makes the item ``unknown`` with the error code as evidence: the checklist never
claims a pass it could not see, and never fails a deployment for a throttled call.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from compliance.aws import checklist_checks as aws
from compliance.aws.base import AccountTarget
from compliance.aws.session import AWS_ERRORS, error_code, home_region
from compliance.checklist.base import Context, Outcome, Status
from compliance.models import AwsAccount, TaggingPolicy


def _guarded(what: str, call: Callable[[], Outcome | None]) -> Outcome | None:
    try:
        return call()
    except AWS_ERRORS as exc:
        return Outcome(Status.UNKNOWN, f"{what}: AWS call failed ({error_code(exc)})")


def server_not_exposed(ctx: Context) -> Outcome | None:
    instance_id = settings.SERVER_INSTANCE_ID
    if not instance_id:
        return None

    def check() -> Outcome:
        session = ctx.session_for(None)
        region = settings.SERVER_REGION or session.region_name or "us-east-1"
        exposure = aws.server_exposure(session, instance_id, region)
        problems = []
        if exposure.public_ip:
            problems.append(f"public IP {exposure.public_ip}")
        if exposure.open_ingress:
            problems.append("inbound open to the internet: " + "; ".join(exposure.open_ingress))
        if problems:
            return Outcome(Status.FAIL, f"{instance_id}: " + "; ".join(problems))
        endpoints = exposure.vpc_endpoint_services
        missing = sorted({"sts", "ec2"} - set(endpoints))
        base = f"{instance_id} in {exposure.vpc_id}: no public IP, no inbound from 0.0.0.0/0"
        if missing:
            return Outcome(
                Status.ATTENTION,
                f"{base}; no VPC endpoint for {', '.join(missing)} "
                f"(endpoints: {', '.join(endpoints) or 'none'})",
            )
        return Outcome(Status.PASS, f"{base}; VPC endpoints: {', '.join(endpoints)}")

    return _guarded("EC2", check)


def cloudtrail_logging(ctx: Context) -> Outcome | None:
    accounts = list(AwsAccount.objects.filter(enabled=True).order_by("account_id"))
    if not accounts:
        return Outcome(Status.UNKNOWN, "No AWS account registered, nothing to check")
    notes, failing, unknown = [], [], []
    for account in accounts:
        target = AccountTarget(
            account_id=account.account_id,
            role_arn=account.role_arn or None,
            external_id=account.external_id or None,
            regions=tuple(account.regions),
        )
        try:
            session = ctx.session_for(target)
            trails = aws.cloudtrail_status(session, home_region(session, target))
        except AWS_ERRORS as exc:
            unknown.append(f"{account.account_id}: AWS call failed ({error_code(exc)})")
            continue
        logging_now = [t for t in trails if t.logging]
        if not logging_now:
            stopped = ", ".join(t.name for t in trails) or "no trail"
            failing.append(f"{account.account_id}: nothing logging ({stopped})")
        else:
            multi = any(t.multi_region for t in logging_now)
            names = ", ".join(t.name for t in logging_now)
            notes.append(f"{account.account_id}: {names}{' (all regions)' if multi else ''}")
    if failing:
        return Outcome(Status.FAIL, "; ".join(failing + unknown + notes))
    if unknown:
        return Outcome(Status.UNKNOWN, "; ".join(unknown + notes))
    return Outcome(Status.PASS, "CloudTrail logging in every scanned account: " + "; ".join(notes))


def load_balancer_access_logs(ctx: Context) -> Outcome | None:
    arns = list(settings.CHECKLIST_LOAD_BALANCER_ARNS)
    if not arns:
        return None

    def check() -> Outcome:
        session = ctx.session_for(None)
        off = [arn for arn in arns if not aws.load_balancer_access_logs(session, arn)]
        if off:
            return Outcome(Status.FAIL, "Access logs off for " + ", ".join(off))
        return Outcome(Status.PASS, f"Access logs on for {len(arns)} load balancer(s)")

    return _guarded("ELB", check)


def cost_allocation_tags_active(ctx: Context) -> Outcome | None:
    active_policy = TaggingPolicy.objects.filter(is_active=True).first()
    if active_policy is None:
        return Outcome(Status.UNKNOWN, "No active tagging policy")
    keys = sorted({tag["name"] for tag in active_policy.document.get("required_tags", [])})
    if not keys:
        return Outcome(Status.PASS, "The active policy requires no tag")

    def check() -> Outcome:
        status = aws.cost_allocation_tag_status(ctx.session_for(None), keys)
        inactive = [k for k in keys if status.get(k) != "Active"]
        if inactive:
            detail = ", ".join(f"{k} ({status.get(k, 'never seen by Billing')})" for k in inactive)
            return Outcome(
                Status.FAIL,
                f"Not activated as cost allocation tags: {detail}; their spend cannot be "
                "attributed in Cost Explorer or the CUR",
            )
        return Outcome(Status.PASS, f"Active cost allocation tags: {', '.join(keys)}")

    return _guarded("Cost Explorer", check)
