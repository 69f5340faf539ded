"""Each checklist item in both states; attestations; the command; the MCP tool; the IAM policy."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from compliance.aws.base import AccountTarget
from compliance.aws.iam_policy import policy_json
from compliance.checklist.base import Context, Status
from compliance.checklist.evaluation import (
    ItemResult,
    default_session_for,
    evaluate_item,
    latest_report,
    stored_results,
)
from compliance.checklist.items import ITEMS, ITEMS_BY_ID
from compliance.models import AuditEvent
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.accounts import do_add_account
from compliance.writes.checklist import do_attest_checklist_item, do_run_security_checklist
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError
from mcp_endpoint.models import ApiKey
from tests.compliance.policies import TEST_POLICY
from tests.conftest import sign_in_with_mfa
from tests.mcp_endpoint.conftest import make_key, tool_call
from tests.mcp_endpoint.test_auth import post

ACCOUNT = "123456789012"  # moto's default account
SECURE = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    # gunicorn terminates TLS: the redirect leads somewhere (network.proxy_headers).
    "SERVER_TLS_CERT_FILE": "/etc/finops/tls/cert.pem",
}


def check(item_id: str, *, now: datetime | None = None, session: Any = None) -> ItemResult:
    session_for = (lambda target: session) if session is not None else default_session_for
    ctx = Context(now=now or timezone.now(), session_for=session_for)
    return evaluate_item(ITEMS_BY_ID[item_id], ctx)


def test_every_section_of_the_guidance_is_covered_and_ids_are_unique() -> None:
    assert len({item.id for item in ITEMS}) == len(ITEMS)
    sections = {str(item.section) for item in ITEMS}
    assert sections == {
        "Authentication",
        "Network",
        "Application",
        "Credentials",
        "Monitoring",
        "FinOps",
        "Incident response",
    }


# --- Authentication ---------------------------------------------------------------------------


def test_authentication_required_passes_when_anonymous_requests_are_refused(
    transactional_db: None,
) -> None:
    result = check("auth.required")
    assert result.status == Status.PASS
    assert "POST /mcp -> 401" in result.evidence
    assert "GET / -> 302" in result.evidence


@override_settings(ROOT_URLCONF="tests.compliance.checklist_urls")
def test_authentication_required_fails_when_a_page_is_open(transactional_db: None) -> None:
    result = check("auth.required")
    assert result.status == Status.FAIL
    assert "GET / answered 200 without credentials" in result.evidence


def test_sign_in_hardening_passes_with_the_defaults(db: None) -> None:
    result = check("auth.sign_in_hardening")
    assert result.status == Status.PASS
    assert "Failed sign-ins limited (10/m/ip,5/5m/key)" in result.evidence
    assert "sessions expire after 8 h" in result.evidence


@override_settings(ACCOUNT_RATE_LIMITS={"login": "30/m/ip"})
def test_sign_in_hardening_fails_without_a_failed_login_limit(db: None) -> None:
    result = check("auth.sign_in_hardening")
    assert result.status == Status.FAIL
    assert "failed sign-ins are not rate-limited" in result.evidence


@override_settings(SESSION_COOKIE_AGE=7 * 24 * 3600)
def test_sign_in_hardening_flags_week_long_sessions(db: None) -> None:
    assert check("auth.sign_in_hardening").status == Status.ATTENTION


def test_admin_strong_sign_in_in_both_states(db: None) -> None:
    assert check("auth.admin_strong_sign_in").status == Status.PASS
    with override_settings(ADMIN_REQUIRES_MFA_OR_SSO=False):
        result = check("auth.admin_strong_sign_in")
    assert result.status == Status.FAIL
    assert "ADMIN_REQUIRES_MFA_OR_SSO is off" in result.evidence


@override_settings(TRUSTED_PROXY_CIDRS=[ipaddress.ip_network("10.0.0.0/16")])
def test_no_localhost_trust_passes_with_narrow_proxy_networks(db: None) -> None:
    result = check("auth.no_localhost_trust")
    assert result.status == Status.PASS
    assert "10.0.0.0/16" in result.evidence


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_no_localhost_trust_fails_when_everyone_is_a_trusted_proxy(db: None, everyone: str) -> None:
    networks = [ipaddress.ip_network("10.0.0.0/16"), ipaddress.ip_network(everyone)]
    with override_settings(TRUSTED_PROXY_CIDRS=networks):
        result = check("auth.no_localhost_trust")
    assert result.status == Status.FAIL
    assert everyone in result.evidence


# --- Network ----------------------------------------------------------------------------------


@override_settings(**SECURE)
def test_tls_passes_with_redirect_hsts_and_secure_cookies(db: None) -> None:
    assert check("network.tls").status == Status.PASS


@override_settings(**{**SECURE, "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0})
def test_tls_fails_without_redirect_or_hsts(db: None) -> None:
    result = check("network.tls")
    assert result.status == Status.FAIL
    assert "SECURE_SSL_REDIRECT" in result.evidence
    assert "HSTS off" in result.evidence


@override_settings(
    **{**SECURE, "SECURE_SSL_REDIRECT": False},
    TRUSTED_PROXY_CIDRS=[ipaddress.ip_network("10.0.0.0/16")],
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_tls_passes_behind_a_trusted_tls_terminating_proxy(db: None) -> None:
    assert check("network.tls").status == Status.PASS


def _instance(*, open_to_world: bool, endpoints: bool) -> tuple[str, str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    source = (
        {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        if open_to_world
        else {"UserIdGroupPairs": [{"GroupId": group}]}
    )
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, **source}],
    )
    if endpoints:
        for service in ("sts", "ec2"):
            ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=f"com.amazonaws.us-east-1.{service}",
                VpcEndpointType="Interface",
                SubnetIds=[subnet],
            )
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet,
                "Groups": [group],
                "AssociatePublicIpAddress": open_to_world,
            }
        ],
    )["Instances"][0]["InstanceId"]
    return instance, group


def test_private_server_passes_without_public_ip_or_open_ingress(
    db: None, mocked_aws: None
) -> None:
    instance, _group = _instance(open_to_world=False, endpoints=True)
    with override_settings(SERVER_INSTANCE_ID=instance, SERVER_REGION="us-east-1"):
        result = check("network.private_server")
    assert result.status == Status.PASS, result.evidence
    assert "VPC endpoints: ec2, sts" in result.evidence


def test_private_server_fails_with_inbound_open_to_the_internet(db: None, mocked_aws: None) -> None:
    instance, group = _instance(open_to_world=True, endpoints=False)
    with override_settings(SERVER_INSTANCE_ID=instance, SERVER_REGION="us-east-1"):
        result = check("network.private_server")
    assert result.status == Status.FAIL
    assert f"{group} tcp 443-443 from 0.0.0.0/0" in result.evidence


def test_private_server_without_instance_id_falls_back_to_attestation(db: None) -> None:
    assert check("network.private_server").status == Status.UNKNOWN
    do_attest_checklist_item(
        "network.private_server",
        evidence="ECS tasks in private subnets, SG from the ALB only",
        expires_at=timezone.now() + timedelta(days=90),
        acting=Operator(),
    )
    assert check("network.private_server").status == Status.ATTESTED


# --- Application ------------------------------------------------------------------------------


@override_settings(MCP_ALLOWED_ORIGINS=["https://claude.ai"])
def test_cors_passes_with_listed_origins(db: None) -> None:
    result = check("app.cors")
    assert result.status == Status.PASS
    assert "https://claude.ai" in result.evidence


@override_settings(MCP_ALLOWED_ORIGINS=["https://claude.ai", "*"])
def test_cors_fails_with_a_wildcard(db: None) -> None:
    assert check("app.cors").status == Status.FAIL


@pytest.mark.parametrize(
    ("item_id", "setting", "loose"),
    [
        ("app.request_sanitisation", "MCP_MAX_REQUEST_BYTES", 50_000_000),
        ("app.call_budget", "MCP_MAX_CALLS_PER_HOUR", 10_000_000),
        ("app.loop_detection", "MCP_MAX_IDENTICAL_CALLS", 1_000_000),
        ("app.security_monitoring", "MCP_ALERT_AUTH_FAILURES", 1_000_000),
    ],
)
def test_guards_pass_by_default_and_need_attention_when_toothless(
    db: None, item_id: str, setting: str, loose: int
) -> None:
    assert check(item_id).status == Status.PASS
    with override_settings(**{setting: loose}):
        result = check(item_id)
    assert result.status == Status.ATTENTION
    assert f"{setting}={loose}" in result.evidence


# --- Credentials ------------------------------------------------------------------------------


def test_aws_credentials_from_environment_variables_fail(db: None) -> None:
    result = check("credentials.aws_role")
    assert result.status == Status.FAIL
    assert "'env'" in result.evidence


class _TaskRoleEndpoint(BaseHTTPRequestHandler):
    """The ECS task metadata credentials endpoint, as the container agent serves it."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "AccessKeyId": "ASIATESTTESTTESTTEST",
                "SecretAccessKey": "task-secret",
                "Token": "task-token",
                "Expiration": (datetime.now(UTC) + timedelta(hours=6)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def task_role(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Credentials from a container role, as on ECS: no key in the environment or a file."""
    server = HTTPServer(("127.0.0.1", 0), _TaskRoleEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{server.server_port}/creds"
    )
    yield
    server.shutdown()
    thread.join()


def test_aws_credentials_from_a_task_role_pass(db: None, task_role: None) -> None:
    result = check("credentials.aws_role")
    assert result.status == Status.PASS
    assert "container-role" in result.evidence


def test_secret_key_passes_when_generated_for_the_install(db: None) -> None:
    assert check("credentials.secret_key").status == Status.PASS


@override_settings(SECRET_KEY="django-insecure-" + "x1y2z3" * 10)
def test_secret_key_fails_when_it_is_djangos_placeholder(db: None) -> None:
    assert check("credentials.secret_key").status == Status.FAIL


def test_secret_key_fails_when_committed_in_a_project_file(db: None, tmp_path: Path) -> None:
    key = "k3Y-" + "abcdefghij0123456789" * 3
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "settings_prod.py").write_text(f'SECRET_KEY = "{key}"\n')
    with override_settings(SECRET_KEY=key, BASE_DIR=tmp_path, DATA_DIR=tmp_path / "var"):
        result = check("credentials.secret_key")
    assert result.status == Status.FAIL
    assert "deploy/settings_prod.py" in result.evidence


def test_api_key_age_fails_for_an_active_key_older_than_the_maximum(db: None) -> None:
    alice = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(alice, Role.VIEWER)  # a key is never wider than its user's role
    make_key(alice)
    assert check("credentials.api_key_age").status == Status.PASS
    key = ApiKey.objects.get()
    # The key was created before the maximum age was lowered from 90 to 30 days.
    ApiKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=45))
    with override_settings(API_KEY_MAX_AGE_DAYS=30):
        result = check("credentials.api_key_age")
    assert result.status == Status.FAIL
    assert key.prefix in result.evidence


# --- Monitoring -------------------------------------------------------------------------------


def test_security_logs_pass_with_the_json_formatter(db: None) -> None:
    assert check("monitoring.security_logs").status == Status.PASS


def test_security_logs_fail_without_the_json_formatter(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = logging.StreamHandler()
    plain.setFormatter(logging.Formatter("%(message)s"))
    monkeypatch.setattr(logging.getLogger("security"), "handlers", [plain])
    assert check("monitoring.security_logs").status == Status.FAIL


def _account_with_trail(*, logging_on: bool) -> None:
    do_add_account(account_id=ACCOUNT, name="prod", regions=["us-east-1"], acting=Operator())
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="trail-logs")
    cloudtrail = boto3.client("cloudtrail", region_name="us-east-1")
    cloudtrail.create_trail(Name="org-trail", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    if logging_on:
        cloudtrail.start_logging(Name="org-trail")


def test_cloudtrail_passes_when_a_trail_is_logging(db: None, mocked_aws: None) -> None:
    _account_with_trail(logging_on=True)
    result = check("monitoring.cloudtrail")
    assert result.status == Status.PASS
    assert f"{ACCOUNT}: org-trail (all regions)" in result.evidence


def test_cloudtrail_fails_when_the_trail_is_not_logging(db: None, mocked_aws: None) -> None:
    _account_with_trail(logging_on=False)
    result = check("monitoring.cloudtrail")
    assert result.status == Status.FAIL
    assert f"{ACCOUNT}: nothing logging (org-trail)" in result.evidence


def _load_balancer(*, access_logs: bool) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.2.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(["us-east-1a", "us-east-1b"])
    ]
    elbv2 = boto3.client("elbv2", region_name="us-east-1")
    arn = elbv2.create_load_balancer(Name="app", Subnets=subnets, Scheme="internet-facing")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    if access_logs:
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="alb-logs")
        elbv2.modify_load_balancer_attributes(
            LoadBalancerArn=arn,
            Attributes=[
                {"Key": "access_logs.s3.enabled", "Value": "true"},
                {"Key": "access_logs.s3.bucket", "Value": "alb-logs"},
            ],
        )
    return str(arn)


def test_load_balancer_access_logs_pass_when_on(db: None, mocked_aws: None) -> None:
    arn = _load_balancer(access_logs=True)
    with override_settings(CHECKLIST_LOAD_BALANCER_ARNS=[arn]):
        assert check("monitoring.lb_access_logs").status == Status.PASS


def test_load_balancer_access_logs_fail_when_off(db: None, mocked_aws: None) -> None:
    arn = _load_balancer(access_logs=False)
    with override_settings(CHECKLIST_LOAD_BALANCER_ARNS=[arn]):
        result = check("monitoring.lb_access_logs")
    assert result.status == Status.FAIL
    assert arn in result.evidence


# --- FinOps -----------------------------------------------------------------------------------


def _session_with_cost_allocation_tags(tags: list[dict[str, str]]) -> boto3.session.Session:
    """moto does not implement ListCostAllocationTags: the response is injected at botocore's
    ``before-call`` hook (the documented way to short-circuit a call), after the request has
    been validated against the real service model."""
    session = boto3.session.Session(region_name="us-east-1")
    calls: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        calls.append(params)
        wanted = (
            set(params["body"].get("TagKeys", [])) if isinstance(params["body"], dict) else set()
        )
        listed = [t for t in tags if not wanted or t["TagKey"] in wanted]
        return AWSResponse(params["url"], 200, {}, None), {"CostAllocationTags": listed}

    session.events.register("before-call.cost-explorer.ListCostAllocationTags", answer)
    return session


def test_cost_allocation_tags_pass_when_every_required_key_is_active(
    db: None, mocked_aws: None
) -> None:
    do_import_policy(TEST_POLICY, acting=Operator())
    required = [r["name"] for r in json.loads(TEST_POLICY)["required_tags"]]
    session = _session_with_cost_allocation_tags(
        [{"TagKey": key, "Type": "UserDefined", "Status": "Active"} for key in required]
    )
    result = check("finops.cost_allocation_tags", session=session)
    assert result.status == Status.PASS, result.evidence


def test_cost_allocation_tags_fail_when_a_key_is_inactive(db: None, mocked_aws: None) -> None:
    do_import_policy(TEST_POLICY, acting=Operator())
    required = sorted(r["name"] for r in json.loads(TEST_POLICY)["required_tags"])
    tags = [{"TagKey": key, "Type": "UserDefined", "Status": "Active"} for key in required[1:]]
    tags.append({"TagKey": required[0], "Type": "UserDefined", "Status": "Inactive"})
    result = check("finops.cost_allocation_tags", session=_session_with_cost_allocation_tags(tags))
    assert result.status == Status.FAIL
    assert f"{required[0]} (Inactive)" in result.evidence


# --- Attestations -----------------------------------------------------------------------------


def test_attestation_holds_until_it_expires(db: None) -> None:
    charlie = User.objects.create_superuser("charlie", "c@example.com", "charlie-password-123")
    expires = timezone.now() + timedelta(days=30)
    do_attest_checklist_item(
        "incident.runbook",
        evidence="Runbook reviewed with the on-call team",
        link="https://wiki.example.com/runbook",
        expires_at=expires,
        acting=charlie,
        interface="admin",
    )
    now_result = check("incident.runbook")
    assert now_result.status == Status.ATTESTED
    assert "https://wiki.example.com/runbook" in now_result.evidence
    later = check("incident.runbook", now=expires + timedelta(seconds=1))
    assert later.status == Status.EXPIRED
    row = AuditEvent.objects.get(event_type="checklist.attested")
    assert (row.actor_label, row.target, row.outcome) == ("charlie", "incident.runbook", "success")


def test_never_attested_item_is_unknown(db: None) -> None:
    assert check("incident.contacts").status == Status.UNKNOWN


@pytest.mark.parametrize(
    ("item_id", "link", "days", "error"),
    [
        ("app.cors", "", 30, "evaluated automatically"),
        ("no.such.item", "", 30, "unknown checklist item"),
        ("incident.runbook", "", 30, "needs a link"),
        ("incident.runbook", "javascript:alert(1)", 30, "not an http(s) URL"),
        ("incident.runbook", "https://wiki.example.com/x", -1, "in the future"),
        ("incident.runbook", "https://wiki.example.com/x", 400, "at most one year"),
    ],
)
def test_bad_attestations_are_refused_and_audited(
    db: None, item_id: str, link: str, days: int, error: str
) -> None:
    with pytest.raises(ActionError, match=re.escape(error)):
        do_attest_checklist_item(
            item_id,
            evidence="looks fine",
            link=link,
            expires_at=timezone.now() + timedelta(days=days),
            acting=Operator(),
        )
    row = AuditEvent.objects.get(event_type="checklist.attested")
    assert row.outcome == "denied"
    assert error in row.detail["error"]
    assert not ITEMS_BY_ID.get(item_id) or check(item_id).status != Status.ATTESTED


def test_attesting_needs_the_permission(db: None) -> None:
    bob = User.objects.create_user("bob", "bob@example.com", "bob-password-123")
    with pytest.raises(ActionError, match="you have no role, so you may not attest"):
        do_attest_checklist_item(
            "monitoring.alerts",
            evidence="we have alarms",
            expires_at=timezone.now() + timedelta(days=30),
            acting=bob,
        )
    refusal = AuditEvent.objects.get(event_type="auth.permission_denied")
    assert (refusal.outcome, refusal.detail["action"]) == ("denied", "attest")
    assert not AuditEvent.objects.filter(event_type="checklist.attested").exists()


def test_stored_run_reads_expired_once_its_attestation_has_expired(
    transactional_db: None,
) -> None:
    expires = timezone.now() + timedelta(days=10)
    do_attest_checklist_item(
        "monitoring.alerts",
        evidence="CloudWatch alarms on security events",
        expires_at=expires,
        acting=Operator(),
    )
    run, _results = do_run_security_checklist(acting=Operator())
    now = {r.item.id: r.status for r in stored_results(run)}
    later = {r.item.id: r.status for r in stored_results(run, now=expires + timedelta(days=1))}
    assert now["monitoring.alerts"] == Status.ATTESTED
    assert later["monitoring.alerts"] == Status.EXPIRED


# --- The command, the MCP tool, the IAM policy ------------------------------------------------


def test_command_exits_non_zero_when_a_required_item_fails(transactional_db: None) -> None:
    with pytest.raises(SystemExit) as exited:
        call_command("security_checklist", "--json", stdout=(out := _Buffer()))
    assert exited.value.code == 1
    data = json.loads(out.getvalue())
    assert data["ok"] is False
    assert "credentials.aws_role" in data["summary"]["required_failing"]
    assert data["summary"]["total"] == len(ITEMS)


def test_command_exits_non_zero_when_a_required_attestation_expired(
    transactional_db: None, task_role: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with override_settings(**SECURE):
        call_command("security_checklist", stdout=_Buffer())  # everything required holds
        do_attest_checklist_item(
            "incident.contacts",
            evidence="On-call list",
            link="https://wiki.example.com/contacts",
            expires_at=timezone.now() + timedelta(days=1),
            acting=Operator(),
        )
        call_command("security_checklist", stdout=_Buffer())
        later = timezone.now() + timedelta(days=2)
        monkeypatch.setattr(timezone, "now", lambda: later)
        with pytest.raises(SystemExit) as exited:
            call_command("security_checklist", "--json", stdout=(out := _Buffer()))
    assert exited.value.code == 1
    assert json.loads(out.getvalue())["summary"]["required_failing"] == ["incident.contacts"]


def test_command_keeps_each_run_in_the_history_and_audits_it(transactional_db: None) -> None:
    for _ in range(2):
        with pytest.raises(SystemExit):
            call_command("security_checklist", stdout=_Buffer())
    assert AuditEvent.objects.filter(event_type="checklist.evaluated").count() == 2
    report = latest_report()
    assert report["run_id"] is not None
    assert len(report["items"]) == len(ITEMS)


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def test_mcp_tool_returns_the_latest_run_to_an_administrator(transactional_db: None) -> None:
    root = User.objects.create_superuser("root", "root@example.com", "root-password-123")
    do_run_security_checklist(acting=Operator())
    status, body, _headers = post(tool_call("get_security_checklist"), key=make_key(root))
    assert status == 200
    data = body["result"]["structuredContent"]
    assert [i["id"] for i in data["items"]] == [item.id for item in ITEMS]
    assert data["summary"]["total"] == len(ITEMS)
    assert data["checked_at"] is not None
    assert set(data["items"][0]) >= {"id", "section", "title", "required", "kind", "status"}
    call = AuditEvent.objects.filter(event_type="mcp.call").get()
    assert call.target == "get_security_checklist"


def test_mcp_tool_is_refused_to_a_non_administrator(transactional_db: None) -> None:
    alice = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(alice, Role.VIEWER)  # a key is never wider than its user's role
    status, body, _headers = post(tool_call("get_security_checklist"), key=make_key(alice))
    assert status == 200
    assert body["result"]["isError"] is True
    refusal = body["result"]["content"][0]["text"]
    assert "security checklist" in refusal
    assert "admin" in refusal


def test_committed_iam_policy_is_the_generated_one() -> None:
    committed = (Path(__file__).resolve().parents[2] / "docs" / "iam-policy.json").read_text()
    assert committed == policy_json(), "run: python manage.py iam_policy > docs/iam-policy.json"


def test_iam_policy_is_read_only_and_covers_the_checklist_calls() -> None:
    statements = json.loads(policy_json())["Statement"]
    actions = [action for statement in statements for action in statement["Action"]]
    assert {"cloudtrail:GetTrailStatus", "ce:ListCostAllocationTags"} <= set(actions)
    verbs = {a.split(":")[1] for a in actions} - {"AssumeRole"}
    # (API Gateway's actions are HTTP methods: GET reads.)
    assert all(v.startswith(("Describe", "Get", "List", "BatchGet")) or v == "GET" for v in verbs)


def test_session_for_an_account_without_role_is_the_default_chain() -> None:
    session = default_session_for(AccountTarget(account_id=ACCOUNT))
    assert session.get_credentials().method == "env"


def test_admin_lists_the_latest_run_and_attests_through_the_action(
    transactional_db: None,
) -> None:
    from django.test import Client

    root = User.objects.create_superuser("root", "root@example.com", "root-password-123")
    do_run_security_checklist(acting=Operator())
    client = Client()
    sign_in_with_mfa(client, root, "root-password-123")
    page = client.get("/admin/compliance/checklistresult/")
    assert page.status_code == 200
    assert b"incident.runbook" in page.content
    expires = (timezone.now() + timedelta(days=90)).strftime("%Y-%m-%d")
    client.post(
        "/admin/compliance/attestation/add/",
        {
            "item_id": "incident.runbook",
            "evidence": "Reviewed",
            "link": "https://wiki.example.com/runbook",
            "expires_at_0": expires,
            "expires_at_1": "12:00:00",
        },
    )
    assert check("incident.runbook").status == Status.ATTESTED
    refused = client.post(
        "/admin/compliance/attestation/add/",
        {
            "item_id": "incident.contacts",
            "evidence": "x",
            "expires_at_0": expires,
            "expires_at_1": "12:00:00",
        },
    )
    assert b"needs a link" in refused.content
    outcomes = AuditEvent.objects.filter(event_type="checklist.attested").values_list(
        "outcome", "interface"
    )
    assert sorted(outcomes) == [("denied", "admin"), ("success", "admin")]
