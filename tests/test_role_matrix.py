"""The role matrix as a test: every role x every action x every face that offers it.

One rule set (``compliance.permissions.rules``) decides what a caller may do; every face asks
it. This module holds each face to that, role by role:

- the **verdict**: the same on every face for one role and action, the one the issue's table
  (:data:`ALLOWED`, written out by hand and checked against the role groups) gives;
- the **audit**: each refusal leaves exactly one ``auth.permission_denied`` row naming the
  action (``detail["action"]``), with the face's interface; an allowed action leaves none.
  Over MCP that row *is* the call's one audit row, as the call gate writes it.

Faces: the dashboard (signed in), the MCP endpoint over HTTP with an API key and with an OAuth
access token (both holding every scope a credential can hold, whatever the role: a scope alone
must grant nothing), MCP over stdio, the Django admin, and the writes themselves for the
actions no face offers to a person (commands act as the operator). Which scopes a credential
is *offered* (``create_api_key --user``, the admin's key form, the OAuth consent page) follows
the owner's role (:func:`test_a_key_is_offered_only_the_scopes_of_its_owners_role`,
:func:`test_the_consent_page_offers_only_the_scopes_of_the_role`).

The admin is the one face offered to staff only (admins and superusers): everyone else is
turned away at its door whatever the action (audited as ``auth.admin_refused``), so there it
is "turned away", not the verdict other faces give (an analyst scans from the dashboard and
over MCP, not from the admin).
"""

from __future__ import annotations

import io
import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from allauth.idp.oidc.models import Client as OAuthClient
from allauth.idp.oidc.models import Token
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from mcp import Client as McpClient

from compliance.audit.events import EventType
from compliance.models import (
    AccountAccess,
    AllocationRule,
    Attestation,
    AuditEvent,
    AwsAccount,
    ChecklistRun,
    Exemption,
    LockdownState,
    Scan,
    TaggingPolicy,
)
from compliance.permissions import Action, may, refusal_message
from compliance.permissions import roles as role_groups
from compliance.permissions.accounts import NarrowedViewer, Operator, sees_all_accounts
from compliance.permissions.roles import Role, assign_role, role_of
from compliance.permissions.rules import RULES, SCOPES, scopes_for
from compliance.reads.incident import AuditFilter, forget_cached_lockdown
from compliance.writes.checklist import do_attest_checklist_item
from compliance.writes.costs import do_import_costs
from compliance.writes.exemptions import do_create_exemption
from compliance.writes.lockdown import record_export
from compliance.writes.refusals import ActionError, NotPermitted
from compliance.writes.retention import do_prune
from mcp_endpoint import keys
from mcp_endpoint.models import ApiKey
from mcp_endpoint.principal import Caller
from mcp_endpoint.server import build_server
from mcp_endpoint.tools import TOOLS
from tests.compliance.billing.bills import (
    FOCUS_HEADER,
    FOCUS_ROWS,
    I_AAA,
    I_CCC,
    A,
    B,
    build_estate,
    write_csv,
)
from tests.compliance.policies import TEST_POLICY
from tests.conftest import grant, sign_in_with_mfa
from tests.mcp_endpoint.conftest import MCP_HEADERS, asgi_client, tool_call
from tests.mcp_endpoint.test_oauth import (
    CLIENT_ID,
    HOST,
    REDIRECT_URI,
    RESOURCE,
    SIGNING_KEY,
    obtain_token,
)

PASSWORD = "a-long-password-1"

# --- The table ---------------------------------------------------------------------------------

#: "none" is a signed-in user without a role; "superuser" holds no role but every permission.
ROLES = ("none", "viewer", "analyst", "admin", "superuser")
ROLE_OF: dict[str, Role | None] = {
    "none": None,
    "viewer": Role.VIEWER,
    "analyst": Role.ANALYST,
    "admin": Role.ADMIN,
    "superuser": None,
}

#: What each role may do, as the issue states it (not computed from the rule set).
ALLOWED: dict[str, frozenset[Action]] = {
    "none": frozenset(),
    "viewer": frozenset({Action.VIEW}),
    "analyst": frozenset({Action.VIEW, Action.EXPORT, Action.START_SCAN}),
    "admin": frozenset(Action) - {Action.PRUNE},
    "superuser": frozenset(Action),
}

#: The credential scopes worth offering each role's person.
OFFERED_SCOPES: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "viewer": frozenset({"read"}),
    "analyst": frozenset({"read", "scan"}),
    "admin": frozenset({"read", "scan"}),
    "superuser": frozenset({"read", "scan"}),
}


def allowed(role: str, action: Action) -> bool:
    return action in ALLOWED[role]


def test_the_table_is_what_the_role_groups_hold() -> None:
    """The hand-written table and the role groups' permissions agree, action by action."""
    for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN):
        held = set(role_groups.ROLE_PERMISSIONS[role])
        derived = {action for action, rule in RULES.items() if rule.permission in held}
        assert derived == ALLOWED[role.value], role
    assert set(RULES) == set(Action)


def test_every_mcp_tool_needs_the_scope_of_its_action() -> None:
    """A tool's scope is its action's scope; no tool serves an action a credential can never
    do (those are the dashboard's and the admin's)."""
    for spec in TOOLS.values():
        assert RULES[spec.action].scope is not None, spec.name
        assert spec.scope == RULES[spec.action].scope, spec.name
    assert {spec.action for spec in TOOLS.values()} == set(MCP_ACTIONS)


# --- People and their world -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick_passwords(settings: Any) -> None:
    """Hashing cost says nothing about permissions."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_remembered_lockdown() -> Any:
    """The lockdown flag is cached per process: the admin's lockdown case must not leak."""
    forget_cached_lockdown()
    yield
    forget_cached_lockdown()


def make_person(role: str, username: str | None = None) -> User:
    """A user holding ``role`` only, granted account A (a grant gives no role any right)."""
    name = username or role
    if role == "superuser":
        user = User.objects.create_superuser(name, f"{name}@example.com", PASSWORD)
    else:
        user = User.objects.create_user(name, f"{name}@example.com", PASSWORD)
        assign_role(user, ROLE_OF[role])
    grant(user, AwsAccount.objects.get(account_id=A))
    return User.objects.get(pk=user.pk)  # no permission cache carried over


@pytest.fixture
def world(db: None) -> None:
    """bills.py's estate: accounts A and B, the active policy, a finished scan, 5 resources."""
    build_estate()


def denials(*of: User) -> list[AuditEvent]:
    """The ``auth.permission_denied`` rows (of these people only, when named)."""
    rows = AuditEvent.objects.filter(event_type=EventType.PERMISSION_DENIED)
    if of:
        rows = rows.filter(actor__in=of)
    return list(rows.order_by("id"))


class MissingAuditRow(AssertionError):
    """A refusal that is not audited the way the rule set audits one."""


def assert_audited(
    user: User, action: Action, verdict: str, interface: str, refusals: int = 1
) -> list[AuditEvent]:
    """Exactly ``refusals`` ``auth.permission_denied`` rows naming ``action`` after a refusal,
    none after an allowed action."""
    rows = denials(user)
    if verdict == ALLOWED_VERDICT:
        assert rows == [], [(r.interface, r.detail) for r in rows]
        return rows
    seen = [(r.actor_id, r.interface, r.outcome, r.detail.get("action")) for r in rows]
    if seen != [(user.pk, interface, "denied", action.value)] * refusals:
        others = AuditEvent.objects.filter(outcome="denied", actor=user)
        raise MissingAuditRow(
            f"expected {refusals} auth.permission_denied row(s) for {action.value} on "
            f"{interface}, got {seen}; other refusals: "
            f"{[(e.event_type, e.interface, e.detail) for e in others]}"
        )
    # In the rule set's words (over MCP after the tool's name).
    message = refusal_message(user, action)
    assert all(str(r.detail["error"]).endswith(message) for r in rows), message
    return rows


ALLOWED_VERDICT = "allowed"
REFUSED = "refused"
#: The admin site's door (``is_staff``, which only the admin role and superusers hold) sends
#: the person to sign in before any admin page, so before the rule set, is reached.
TURNED_AWAY = "turned away at the admin's door"


# --- Dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    name: str
    action: Action
    run: Callable[[Client, User], str]


def _page_verdict(response: HttpResponseBase, ok: int = 200) -> str:
    if response.status_code == 403:
        names = [t.name for t in getattr(response, "templates", [])]
        assert "compliance/no_access.html" in names, names
        return REFUSED
    assert response.status_code == ok, response.status_code
    return ALLOWED_VERDICT


def _body(response: HttpResponseBase) -> str:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    assert isinstance(response, HttpResponse)
    return response.content.decode()


def _page(url: str, *shows: str) -> Callable[[Client, User], str]:
    """A page: its heading and some of the estate on it when allowed, neither when refused."""

    def run(client: Client, user: User) -> str:
        response = client.get(url)
        verdict = _page_verdict(response)
        body = _body(response)
        assert [text in body for text in shows] == [verdict == ALLOWED_VERDICT] * len(shows)
        return verdict

    return run


def _resources_csv(client: Client, user: User) -> str:
    response = client.get(reverse("compliance:resource_export"))
    verdict = _page_verdict(response)
    body = _body(response)
    if verdict == ALLOWED_VERDICT:
        assert response["Content-Type"].startswith("text/csv")
        assert I_AAA in body  # account A is granted to every person here
        assert (I_CCC in body) is sees_all_accounts(user)  # B: only for those who see all
    else:
        assert I_AAA not in body
    return verdict


def _policy_export(client: Client, user: User) -> str:
    response = client.get(reverse("compliance:policy"), {"download": "aws-tag-policy"})
    verdict = _page_verdict(response)
    if verdict == ALLOWED_VERDICT:
        assert response["Content-Type"] == "application/json"
        assert "attachment" in response["Content-Disposition"]
        assert "Owner" in _body(response)
    return verdict


def _allocation_csv(client: Client, user: User) -> str:
    response = client.get(reverse("compliance:allocation"), {"download": "csv"})
    verdict = _page_verdict(response)
    exported = AuditEvent.objects.filter(event_type=EventType.SHOWBACK_EXPORTED, actor=user)
    assert exported.exists() is (verdict == ALLOWED_VERDICT)
    if verdict == ALLOWED_VERDICT:
        assert response["Content-Type"].startswith("text/csv")
        assert _body(response).startswith("tag_key,billing_period_start,")
    return verdict


def _scan_now(client: Client, user: User) -> str:
    before = Scan.objects.count()
    response = client.post(reverse("compliance:scan_start"))
    verdict = _page_verdict(response, ok=302)
    if verdict == ALLOWED_VERDICT:
        scan = Scan.objects.latest("pk")
        assert Scan.objects.count() == before + 1
        assert response["Location"] == reverse("compliance:scan_detail", args=[scan.pk])
        # Those who see every account scan every account; others their own.
        assert scan.account_ids == ([] if sees_all_accounts(user) else [A])
    else:
        assert Scan.objects.count() == before
    return verdict


def _checklist_run(client: Client, user: User) -> str:
    response = client.post(reverse("compliance:checklist"))
    verdict = _page_verdict(response, ok=302)
    assert ChecklistRun.objects.exists() is (verdict == ALLOWED_VERDICT)
    return verdict


DASHBOARD = [
    Face("overview", Action.VIEW, _page("/", "<h1>Overview</h1>")),
    Face("resources", Action.VIEW, _page("/resources/", "<h1>Resources</h1>", "i-0aaa")),
    Face("violations", Action.VIEW, _page("/violations/", "<h1>Violations by rule</h1>")),
    Face("costs", Action.VIEW, _page("/costs/", "<h1>Costs</h1>")),
    Face("allocation", Action.VIEW, _page("/allocation/", "<h1>Allocation</h1>")),
    Face("scans", Action.VIEW, _page("/scans/", "<h1>Scans</h1>")),
    Face("policy", Action.VIEW, _page("/policy/", "<h1>Tagging policy</h1>", "Project")),
    Face("resources CSV export", Action.EXPORT, _resources_csv),
    Face("policy export", Action.EXPORT, _policy_export),
    Face("allocation CSV export", Action.EXPORT, _allocation_csv),
    Face("scan now", Action.START_SCAN, _scan_now),
    Face(
        "checklist page", Action.VIEW_CHECKLIST, _page("/checklist/", "<h1>Security checklist</h1>")
    ),
    Face("checklist run", Action.RUN_CHECKLIST, _checklist_run),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("face", DASHBOARD, ids=lambda f: f"{f.action.value}:{f.name}")
def test_dashboard(world: None, role: str, face: Face) -> None:
    user = make_person(role)
    client = Client()
    client.force_login(user)
    verdict = face.run(client, user)
    assert verdict == (ALLOWED_VERDICT if allowed(role, face.action) else REFUSED)
    assert_audited(user, face.action, verdict, "web")


# --- Admin -------------------------------------------------------------------------------------


def _admin_verdict(response: HttpResponseBase, ok: int, done: bool) -> str:
    if response.status_code == 302 and response["Location"].startswith("/admin/login/"):
        assert not done
        return TURNED_AWAY
    if response.status_code == 403:
        assert not done
        return REFUSED
    assert (response.status_code, done) == (ok, True), (
        response.status_code,
        _body(response)[:2000],
    )
    return ALLOWED_VERDICT


def _expiry(days: int) -> dict[str, str]:
    when = timezone.localtime() + timedelta(days=days)
    return {"expires_at_0": when.strftime("%Y-%m-%d"), "expires_at_1": when.strftime("%H:%M:%S")}


def _admin_add_account(client: Client, user: User) -> str:
    response = client.post(
        "/admin/compliance/awsaccount/add/",
        {"account_id": "333333333333", "name": "new", "enabled": "on", "regions_text": ""},
    )
    return _admin_verdict(
        response, 302, AwsAccount.objects.filter(account_id="333333333333").exists()
    )


def _admin_scan_selected(client: Client, user: User) -> str:
    before = Scan.objects.count()
    account = AwsAccount.objects.get(account_id=A)
    response = client.post(
        "/admin/compliance/awsaccount/",
        {"action": "scan_selected", "_selected_action": [account.pk], "index": 0},
    )
    return _admin_verdict(response, 302, Scan.objects.count() == before + 1)


def _admin_import_policy(client: Client, user: User) -> str:
    response = client.post("/admin/compliance/taggingpolicy/import/", {"document": TEST_POLICY})
    return _admin_verdict(response, 302, TaggingPolicy.objects.filter(version=2).exists())


def _admin_grant(client: Client, user: User) -> str:
    someone = User.objects.create_user("someone", "someone@example.com", PASSWORD)
    account = AwsAccount.objects.get(account_id=B)
    response = client.post(
        "/admin/compliance/accountaccess/add/", {"account": account.pk, "user": someone.pk}
    )
    done = AccountAccess.objects.filter(user=someone, account=account).exists()
    return _admin_verdict(response, 302, done)


def _admin_revoke_grant(client: Client, user: User) -> str:
    someone = User.objects.create_user("someone", "someone@example.com", PASSWORD)
    access = grant(someone, AwsAccount.objects.get(account_id=B))
    response = client.post(f"/admin/compliance/accountaccess/{access.pk}/delete/", {"post": "yes"})
    return _admin_verdict(response, 302, not AccountAccess.objects.filter(pk=access.pk).exists())


def _admin_exempt(client: Client, user: User) -> str:
    account = AwsAccount.objects.get(account_id=A)
    form = {
        "resource_arn": "",
        "resource_type": "ec2:instance",
        "account": account.pk,
        "tag_key": "Owner",
        "reason": "reviewed in the FinOps meeting",
        "owner": user.pk,
        **_expiry(20),
    }
    response = client.post("/admin/compliance/exemption/add/", form)
    return _admin_verdict(response, 302, Exemption.objects.exists())


def _admin_remove_exemption(client: Client, user: User) -> str:
    exemption = do_create_exemption(
        resource_type="ec2:instance",
        account_id=A,
        reason="until the migration",
        owner=user.get_username(),
        expires_at=timezone.now() + timedelta(days=10),
        acting=Operator(),
    )
    response = client.post(f"/admin/compliance/exemption/{exemption.pk}/delete/", {"post": "yes"})
    return _admin_verdict(response, 302, not Exemption.objects.filter(pk=exemption.pk).exists())


def _admin_create_key(client: Client, user: User) -> str:
    owner = make_person("viewer", "key-owner")
    response = client.post(
        "/admin/mcp_endpoint/apikey/add/",
        {"user": owner.pk, "name": "assistant", "scope_choices": ["read"], "expires_in_days": 30},
    )
    return _admin_verdict(response, 200, ApiKey.objects.filter(user=owner).exists())


def _admin_revoke_key(client: Client, user: User) -> str:
    owner = make_person("viewer", "key-owner")
    key = hand_made_key(owner, ["read"])
    response = client.post(
        "/admin/mcp_endpoint/apikey/",
        {"action": "revoke_selected", "_selected_action": [key.pk], "index": 0},
    )
    key.refresh_from_db()
    return _admin_verdict(response, 302, key.revoked_at is not None)


def _admin_change_role(client: Client, user: User) -> str:
    person = make_person("viewer", "promoted")
    analyst = Group.objects.get(name=Role.ANALYST.value)
    response = client.post(
        f"/admin/auth/user/{person.pk}/change/",
        {
            "username": person.username,
            "email": person.email,
            "is_active": "on",
            "groups": [analyst.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    return _admin_verdict(response, 302, role_of(person) is Role.ANALYST)


def _admin_lockdown(client: Client, user: User) -> str:
    response = client.post(
        "/admin/mcp_endpoint/apikey/lockdown/", {"enable": "on", "reason": "drill"}
    )
    done = LockdownState.objects.filter(pk=1, enabled=True).exists()
    return _admin_verdict(response, 302, done)


def _admin_attest(client: Client, user: User) -> str:
    form = {"item_id": "auth.before_proxying", "evidence": "SSO proxy in front", **_expiry(30)}
    response = client.post("/admin/compliance/attestation/add/", form)
    return _admin_verdict(response, 302, Attestation.objects.exists())


def _admin_allocation_rule(client: Client, user: User) -> str:
    response = client.post(
        "/admin/compliance/allocationrule/add/",
        {
            "tag_key": "Team",
            "position": "1",
            "name": "prod account",
            "value": "platform",
            "accounts": "111111111111",
            "regions": "",
            "services": "",
            "resource_types": "",
            "name_pattern": "",
            "arn_pattern": "",
            "related": "",
            "enabled": "on",
        },
    )
    return _admin_verdict(response, 302, AllocationRule.objects.filter(tag_key="Team").exists())


ADMIN = [
    Face("account add", Action.MANAGE_ACCOUNTS, _admin_add_account),
    Face("account scan action", Action.START_SCAN, _admin_scan_selected),
    Face("policy import", Action.IMPORT_POLICY, _admin_import_policy),
    Face("grant add", Action.MANAGE_GRANTS, _admin_grant),
    Face("grant delete", Action.MANAGE_GRANTS, _admin_revoke_grant),
    Face("exemption add", Action.CREATE_EXEMPTION, _admin_exempt),
    Face("exemption delete", Action.REMOVE_EXEMPTION, _admin_remove_exemption),
    Face("key add", Action.MANAGE_KEYS, _admin_create_key),
    Face("key revoke", Action.MANAGE_KEYS, _admin_revoke_key),
    Face("lockdown", Action.LOCKDOWN, _admin_lockdown),
    Face("role change", Action.MANAGE_USERS, _admin_change_role),
    Face("attestation add", Action.ATTEST, _admin_attest),
    Face("allocation rule add", Action.MANAGE_ALLOCATION, _admin_allocation_rule),
]

#: The roles the admin site is for: ``assign_role`` makes admins staff; superusers are.
STAFF = ("admin", "superuser")


def _admin_cases() -> list[Any]:
    cases = []
    for face in ADMIN:
        for role in ROLES:
            cases.append(pytest.param(face, role, id=f"{face.action.value}:{face.name}-{role}"))
    return cases


@pytest.mark.parametrize(("face", "role"), _admin_cases())
def test_admin(world: None, face: Face, role: str) -> None:
    """The admin is the staff's face: admins and superusers, who may do everything it offers.
    Everyone else is turned away at its door, whatever the action; an analyst's scan, which
    the rule allows, is theirs on the dashboard and over MCP, not here."""
    user = make_person(role)
    assert user.is_staff is (role in STAFF)
    client = Client()
    sign_in_with_mfa(client, user, PASSWORD)
    verdict = face.run(client, user)
    if role not in STAFF:
        # Not a refusal of the action (an analyst may scan, on the dashboard and over MCP):
        # the face is not theirs, and its door says so, audited as the admin's refusal.
        assert verdict == TURNED_AWAY
        assert denials() == []
        door = client.get("/admin/login/", {"next": "/admin/"})
        assert door.status_code == 403
        assert b"The admin is for administrators" in door.content
        refused = AuditEvent.objects.get(event_type=EventType.ADMIN_REFUSED, actor=user)
        assert (refused.outcome, refused.detail["reason"]) == ("denied", "not an administrator")
        return
    assert verdict == (ALLOWED_VERDICT if allowed(role, face.action) else REFUSED)
    assert_audited(user, face.action, verdict, "admin")


# --- Writes the commands run as the operator ---------------------------------------------------


def _write_import_costs(user: User, tmp_path: Path) -> None:
    bill = write_csv(tmp_path / "focus.csv", FOCUS_HEADER, FOCUS_ROWS)
    imported = do_import_costs(str(bill), acting=user)
    assert imported


def _write_export_audit_log(user: User, tmp_path: Path) -> None:
    record_export(AuditFilter(), 0, acting=user, destination="stdout")
    assert AuditEvent.objects.filter(event_type=EventType.AUDIT_EXPORTED).exists()


def _write_prune(user: User, tmp_path: Path) -> None:
    do_prune(scan_days=30, audit_days=365, batch_size=100, dry_run=True, acting=user)


def _write_attest(user: User, tmp_path: Path) -> None:
    do_attest_checklist_item(
        "auth.before_proxying",
        evidence="SSO proxy in front",
        expires_at=timezone.now() + timedelta(days=30),
        acting=user,
    )
    assert Attestation.objects.exists()


WRITES: list[tuple[Action, Callable[[User, Path], None]]] = [
    (Action.IMPORT_COSTS, _write_import_costs),
    (Action.EXPORT_AUDIT_LOG, _write_export_audit_log),
    (Action.PRUNE, _write_prune),
    (Action.ATTEST, _write_attest),
]


def _write_cases() -> list[Any]:
    cases = []
    for action, write in WRITES:
        for role in ROLES:
            cases.append(pytest.param(action, write, role, id=f"{action}-{role}"))
    return cases


@pytest.mark.parametrize(("action", "write", "role"), _write_cases())
def test_write_acting_as_a_person(
    world: None,
    tmp_path: Path,
    action: Action,
    write: Callable[[User, Path], None],
    role: str,
) -> None:
    """Actions that only commands offer (as the operator), and attestations (offered only in
    the admin): the write itself, acting as the person, is where the rule is kept."""
    user = make_person(role)
    refusal: ActionError | None = None
    try:
        write(user, tmp_path)
    except ActionError as exc:
        refusal = exc
    verdict = ALLOWED_VERDICT if refusal is None else REFUSED
    if isinstance(refusal, NotPermitted):
        assert refusal.action is action
    # Any other ActionError is a refusal not made by the rule set: the audit check says so.
    assert verdict == (ALLOWED_VERDICT if allowed(role, action) else REFUSED)
    assert_audited(user, action, verdict, "cli")


# --- MCP: API key, OAuth access token, stdio ----------------------------------------------------

#: Every tool of each action offered over MCP, with arguments that pass the input schema.
MCP_CALLS: dict[Action, list[tuple[str, dict[str, Any]]]] = {
    Action.VIEW: [
        ("get_tagging_policy", {}),
        ("check_tag_compliance", {}),
        ("find_untagged_resources", {}),
        ("validate_resource_tags", {"resource_arn": I_AAA}),
        ("get_cost_attribution_gap", {}),
        ("get_spend_by_tag", {"tag_key": "Owner"}),
        ("suggest_tags", {"resource_arn": I_AAA}),
        ("get_violation_history", {}),
        ("detect_tag_drift", {}),
        ("list_scans", {}),
    ],
    Action.EXPORT: [
        ("generate_compliance_report", {}),
        ("export_violations_csv", {}),
        ("generate_custodian_policy", {}),
    ],
    Action.START_SCAN: [("start_scan", {})],
    Action.VIEW_CHECKLIST: [("get_security_checklist", {})],
}
MCP_ACTIONS = tuple(MCP_CALLS)


def test_the_mcp_cases_call_every_tool() -> None:
    called = {name for calls in MCP_CALLS.values() for name, _ in calls}
    assert called == set(TOOLS)
    assert all(TOOLS[name].action is action for action, c in MCP_CALLS.items() for name, _ in c)


@dataclass(frozen=True)
class Answer:
    """One tool call's result: ``error`` is the structured error (None when it succeeded)."""

    tool: str
    error: dict[str, Any] | None
    content: dict[str, Any] | None


def hand_made_key(user: User, scopes: list[str]) -> ApiKey:
    """A key row made through the ORM: ``create_api_key`` would refuse scopes beyond the role,
    which is the point of making one by hand."""
    prefix, raw = keys.new_key()
    key = ApiKey.objects.create(
        prefix=prefix,
        key_hash=keys.hash_key(raw),
        name="hand-made",
        user=user,
        scopes=scopes,
        expires_at=timezone.now() + timedelta(days=30),
    )
    key.raw = raw  # type: ignore[attr-defined]
    return key


def call_rows(user: User) -> list[AuditEvent]:
    """The rows MCP calls leave (the call gate's, and the HTTP gate's refusals) for ``user``."""
    kinds = [EventType.MCP_CALL, EventType.MCP_DENIED, EventType.PERMISSION_DENIED]
    return list(AuditEvent.objects.filter(event_type__in=kinds, actor=user).order_by("id"))


def make_oauth_client() -> OAuthClient:
    """An MCP client registered by an admin: public (PKCE), allowed both MCP scopes."""
    client = OAuthClient(id=CLIENT_ID, name="Test assistant", type=OAuthClient.Type.PUBLIC)
    client.set_scopes(["openid", "read", "scan"])
    client.set_redirect_uris([REDIRECT_URI])
    client.set_grant_types(["authorization_code", "refresh_token"])
    client.save()
    return client


@pytest.fixture
def oauth_client(db: None, settings: Any) -> OAuthClient:
    """The authorization server on, and its MCP client."""
    settings.IDP_OIDC_PRIVATE_KEY = SIGNING_KEY
    return make_oauth_client()


def hand_made_token(user: User, client: OAuthClient, scopes: list[str]) -> str:
    """An access token row for /mcp, as the token endpoint stores one, whatever the consent
    page would have offered."""
    raw = secrets.token_urlsafe(32)
    token = Token(
        type=Token.Type.ACCESS_TOKEN,
        client=client,
        user=user,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    token.set_value(raw)
    token.set_scopes(scopes)
    token.set_resources([RESOURCE])
    token.save()
    return raw


def over_http(bearer: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
    async def main() -> list[Answer]:
        answers = []
        headers = {**MCP_HEADERS, "authorization": f"Bearer {bearer}"}
        async with asgi_client() as client:
            for name, arguments in calls:
                response = await client.post(
                    "/mcp", json=tool_call(name, arguments), headers=headers
                )
                assert response.status_code == 200, response.text
                result = response.json()["result"]
                content = result.get("structuredContent")
                error = content.get("error") if result["isError"] else None
                answers.append(Answer(name, error, content))
        return answers

    return anyio.run(main)


def over_stdio(user: User, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
    return StdioSession(user).call(calls)


def mcp_verdict(answers: list[Answer]) -> str:
    """All of one action's tools answer alike: every one ran, or the gate refused every one
    with the rule set's words. Any other failure is not a verdict, and fails the test."""
    verdicts = set()
    for answer in answers:
        if answer.error is None:
            verdicts.add(ALLOWED_VERDICT)
        else:
            assert answer.error["limit"] == "permission", answer
            assert answer.error["message"].startswith(f"{answer.tool}: "), answer
            verdicts.add(REFUSED)
    assert len(verdicts) == 1, answers
    return verdicts.pop()


def assert_call_rows(
    user: User,
    action: Action,
    verdict: str,
    interface: str,
    answers: list[Answer],
    key_prefix: str = "",
    client_id: str = "",
) -> None:
    """The call gate writes one row per call: ``mcp.call`` when it ran; when the rule set
    refused it, ``auth.permission_denied`` naming the action, the tool and the credential."""
    calls = call_rows(user)
    tools = [a.tool for a in answers]
    if verdict == ALLOWED_VERDICT:
        assert [(e.event_type, e.outcome, e.target) for e in calls] == [
            ("mcp.call", "success", tool) for tool in tools
        ]
        return
    assert [(e.event_type, e.target) for e in calls] == [
        ("auth.permission_denied", tool) for tool in tools
    ]
    for event, answer in zip(calls, answers, strict=True):
        expected = {
            "tool": answer.tool,
            "key_prefix": key_prefix,
            **({"client_id": client_id} if client_id else {}),
            "arguments": dict(MCP_CALLS[action])[answer.tool],
            "limit": "permission",
            "action": action.value,
            "error": answer.error["message"] if answer.error else "",
        }
        assert {k: v for k, v in event.detail.items() if k != "duration_ms"} == expected
        assert (event.actor_id, event.actor_label) == (user.pk, user.get_username())


class StdioSession:
    """One stdio server (one ``mcp_stdio --user`` process): its user is loaded once, at
    start; each :meth:`call` is a client connecting to it in process."""

    def __init__(self, user: User) -> None:
        self.server = build_server(local_caller=Caller.for_local_user(user))

    def call(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
        async def main() -> list[Answer]:
            answers = []
            async with McpClient(self.server) as client:
                for name, arguments in calls:
                    result = await client.call_tool(name, arguments)
                    content = result.structured_content
                    error = content.get("error") if result.is_error and content else None
                    assert (error is not None) is bool(result.is_error), result
                    answers.append(Answer(name, error, content))
            return answers

        return anyio.run(main)


# --- The rule set itself -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_rule_set_gives_the_table(world: None, role: str) -> None:
    """Signed in, the role decides; through a credential holding every scope, the role still
    decides, and actions without a scope are never allowed through one."""
    user = make_person(role)
    credential = NarrowedViewer(user, scopes=frozenset(SCOPES))
    for action in Action:
        assert may(user, action) is allowed(role, action), action
        through_credential = allowed(role, action) and RULES[action].scope is not None
        assert may(credential, action) is through_credential, action
    assert set(scopes_for(user)) == OFFERED_SCOPES[role]
    assert denials() == []  # asking is not refusing: nothing is audited


# --- Scopes offered to a credential ---------------------------------------------------------------

SCOPE_REQUESTS = (("read",), ("scan",), ("read", "scan"))


def _by_command(user: User, scopes: tuple[str, ...]) -> bool:
    try:
        call_command(
            "create_api_key",
            user=user.get_username(),
            name="assistant",
            scopes=",".join(scopes),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    except CommandError as exc:
        refusal = str(exc)
    else:
        return True
    assert "role does not allow" in refusal
    return False


def _admin_form(user: User) -> Callable[[User, tuple[str, ...]], bool]:
    """A superuser at the admin's "add API key" form, making keys for ``user``."""
    if user.is_superuser:
        root = user
    else:
        root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    browser = Client()
    sign_in_with_mfa(browser, root, PASSWORD)

    def create(user: User, scopes: tuple[str, ...]) -> bool:
        return _by_admin_form(browser, user, scopes)

    return create


def _by_admin_form(browser: Client, user: User, scopes: tuple[str, ...]) -> bool:
    response = browser.post(
        "/admin/mcp_endpoint/apikey/add/",
        {
            "user": user.pk,
            "name": "assistant",
            "scope_choices": list(scopes),
            "expires_in_days": 30,
        },
    )
    assert response.status_code == 200
    if "admin/mcp_endpoint/apikey_created.html" in [t.name for t in response.templates]:
        return True
    assert "role does not allow" in response.content.decode()
    return False


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("face", ["command", "admin key form"])
def test_a_key_is_offered_only_the_scopes_of_its_owners_role(
    world: None, face: str, role: str
) -> None:
    """``create_api_key --user U --scopes S`` and the admin's key form accept S only within
    what U's role allows; a refusal changes nothing and is audited as a refused key."""
    user = make_person(role)
    create = _by_command if face == "command" else _admin_form(user)
    for scopes in SCOPE_REQUESTS:
        accepted = create(user, scopes)
        assert accepted is set(scopes).issubset(OFFERED_SCOPES[role]), scopes
        made = ApiKey.objects.filter(user=user, scopes=sorted(scopes)).exists()
        assert made is accepted
    refused = [s for s in SCOPE_REQUESTS if not set(s).issubset(OFFERED_SCOPES[role])]
    if face == "command":
        rows = AuditEvent.objects.filter(event_type=EventType.KEY_CREATED, outcome="denied")
        assert [row.target for row in rows] == [user.get_username()] * len(refused)
    assert denials() == []


def _consent(user: User, scope: str) -> tuple[Client, str, list[str]]:
    """The consent page for ``scope``: the browser, the signed request and the MCP scopes
    offered."""
    browser = Client(HTTP_HOST=HOST)
    browser.force_login(user)
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "s" * 16,
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "resource": RESOURCE,
    }
    page = browser.get("/identity/o/authorize?" + urlencode(query))
    assert page.status_code == 200, page.content[:500]
    text = page.content.decode()
    signed = re.search(r'name="request" value="([^"]+)"', text)
    assert signed is not None, text[:2000]
    offered = re.findall(r'name="scopes" value="([^"]+)"', text)
    return browser, signed.group(1), [s for s in offered if s in SCOPES]


@pytest.mark.parametrize("role", ROLES)
def test_the_consent_page_offers_only_the_scopes_of_the_role(
    world: None, oauth_client: OAuthClient, role: str
) -> None:
    user = make_person(role)
    browser, signed, offered = _consent(user, "read scan")
    assert set(offered) == OFFERED_SCOPES[role]

    def grants(scopes: list[str]) -> bool:
        response = browser.post(
            "/identity/o/authorize", {"request": signed, "scopes": scopes, "action": "grant"}
        )
        return response.status_code == 302 and "code=" in response["Location"]

    # Granting a scope the page did not offer is refused: no code is issued...
    assert grants(["read", "scan"]) is (OFFERED_SCOPES[role] == {"read", "scan"})
    if role == "viewer":
        assert grants(["read"]) is True  # ...while what it offered is granted
    elif role == "none":
        assert grants(["read"]) is False


# --- MCP: the matrix, the "Done when", demotion ----------------------------------------

MCP_FACES = ("api key", "oauth token", "stdio")
_newcomers = itertools.count(1)


def newcomer(role: str) -> User:
    """:func:`make_person` under a name of their own: the MCP tests share one estate."""
    return make_person(role, f"{role}-{next(_newcomers)}")


def queued_scans(user: User) -> list[Scan]:
    return list(Scan.objects.filter(status=Scan.Status.QUEUED, requested_by=user.get_username()))


@pytest.fixture(scope="class")
def shared_estate(django_db_setup: None, django_db_blocker: Any) -> Iterator[OAuthClient]:
    """One committed estate (and OAuth client) for every MCP test of this worker: the ASGI app
    and the stdio server reach the database from their own threads, so the data must be
    committed; emptied once at the end, as a transactional test's teardown does (``flush``,
    then the role groups made again by ``post_migrate``). Each test has its own people, keys
    and tokens, and looks only at their rows."""
    with django_db_blocker.unblock():
        build_estate()
        client = make_oauth_client()
    yield client
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


class TestOverMcp:
    @pytest.fixture(autouse=True)
    def _in_shared_estate(
        self, shared_estate: OAuthClient, django_db_blocker: Any, settings: Any
    ) -> Iterator[None]:
        settings.IDP_OIDC_PRIVATE_KEY = SIGNING_KEY
        self.oauth_client = shared_estate
        with django_db_blocker.unblock():
            yield

    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize("action", MCP_ACTIONS, ids=str)
    @pytest.mark.parametrize("face", MCP_FACES)
    def test_matrix(self, face: str, action: Action, role: str) -> None:
        """Every tool of the action, with a credential holding every scope: the role alone
        decides, and each refusal is the call's one row, ``auth.permission_denied``."""
        user = newcomer(role)
        calls = MCP_CALLS[action]
        key_prefix = client_id = ""
        if face == "api key":
            key = hand_made_key(user, list(SCOPES))
            key_prefix = key.prefix
            answers = over_http(key.raw, calls)  # type: ignore[attr-defined]
        elif face == "oauth token":
            answers = over_http(hand_made_token(user, self.oauth_client, list(SCOPES)), calls)
            client_id = CLIENT_ID
        else:
            answers = over_stdio(user, calls)
        interface = "stdio" if face == "stdio" else "mcp"
        verdict = mcp_verdict(answers)
        assert verdict == (ALLOWED_VERDICT if allowed(role, action) else REFUSED)
        assert_audited(user, action, verdict, interface, refusals=len(calls))
        assert_call_rows(user, action, verdict, interface, answers, key_prefix, client_id)
        if action is Action.START_SCAN:
            assert len(queued_scans(user)) == (1 if verdict == ALLOWED_VERDICT else 0)

    @pytest.mark.parametrize("credential", ["api key", "oauth token"])
    def test_a_viewers_scan_credential_cannot_scan_or_export_and_an_analysts_can(
        self, credential: str
    ) -> None:
        """The issue's "Done when": a viewer's credential holding ``scan`` (made by hand: no
        face offers it) neither scans nor exports; an analyst's, made the ordinary way (the
        command, the consent flow), does both."""
        viewer, analyst = newcomer("viewer"), newcomer("analyst")
        calls: list[tuple[str, dict[str, Any]]] = [
            ("start_scan", {}),
            ("generate_compliance_report", {}),
        ]
        if credential == "api key":
            viewers = hand_made_key(viewer, ["read", "scan"]).raw  # type: ignore[attr-defined]
            out = io.StringIO()
            call_command(
                "create_api_key",
                user=analyst.get_username(),
                name="assistant",
                scopes="read,scan",
                stdout=out,
                stderr=io.StringIO(),
            )
            analysts = out.getvalue().strip()
        else:
            viewers = hand_made_token(viewer, self.oauth_client, ["read", "scan"])
            analysts = obtain_token(analyst, scope="read scan")

        refused = over_http(viewers, calls)
        assert [(a.tool, a.error and a.error["limit"]) for a in refused] == [
            ("start_scan", "permission"),
            ("generate_compliance_report", "permission"),
        ]
        assert [e.detail["action"] for e in denials(viewer)] == ["start_scan", "export"]
        assert queued_scans(viewer) == []

        done = over_http(analysts, calls)
        assert [a.error for a in done] == [None, None]
        assert done[0].content is not None
        scan = Scan.objects.get(pk=done[0].content["scan_id"])
        assert (scan.status, scan.account_ids) == (Scan.Status.QUEUED, [A])
        assert queued_scans(analyst) == [scan]
        assert denials(analyst) == []

    @pytest.mark.parametrize("credential", ["api key", "oauth token", "stdio"])
    def test_demoting_a_person_takes_effect_on_their_credentials_at_once(
        self, credential: str
    ) -> None:
        """An analyst's credential scans; demoted to viewer, the same credential (the same
        stdio session) is refused the scan and the export at its next call, and still reads."""
        user = newcomer("analyst")
        calls: list[tuple[str, dict[str, Any]]] = [
            ("start_scan", {}),
            ("generate_compliance_report", {}),
            ("list_scans", {}),
        ]
        if credential == "stdio":
            # The session loads its user once, at start (``mcp_stdio --user``): its own object.
            session = StdioSession(User.objects.get(pk=user.pk))
            before = session.call(calls)
            assign_role(user, Role.VIEWER)
            after = session.call(calls)
        else:
            if credential == "api key":
                bearer = hand_made_key(user, ["read", "scan"]).raw  # type: ignore[attr-defined]
            else:
                bearer = hand_made_token(user, self.oauth_client, ["read", "scan"])
            before = over_http(bearer, calls)
            assign_role(user, Role.VIEWER)
            after = over_http(bearer, calls)
        assert [a.error for a in before] == [None, None, None]
        assert [(a.tool, a.error and a.error["limit"]) for a in after] == [
            ("start_scan", "permission"),
            ("generate_compliance_report", "permission"),
            ("list_scans", None),
        ]
        assert [e.detail["action"] for e in denials(user)] == ["start_scan", "export"]
        assert len(queued_scans(user)) == 1

    @pytest.mark.parametrize("credential", ["api key", "oauth token"])
    def test_a_credential_without_scan_cannot_start_the_scan_its_role_allows(
        self, credential: str
    ) -> None:
        """A credential only narrows: an analyst's read-only key or token is refused the scan.
        The HTTP gate refuses it before the call reaches the call gate (an RFC 6750 scope
        challenge): one ``mcp.denied`` row with the reason, not ``auth.permission_denied``."""
        user = newcomer("analyst")
        if credential == "api key":
            bearer = hand_made_key(user, ["read"]).raw  # type: ignore[attr-defined]
        else:
            bearer = hand_made_token(user, self.oauth_client, ["read"])
        assert not may(NarrowedViewer(user, scopes=frozenset({"read"})), Action.START_SCAN)

        async def main() -> tuple[int, str]:
            headers = {**MCP_HEADERS, "authorization": f"Bearer {bearer}"}
            async with asgi_client() as client:
                response = await client.post("/mcp", json=tool_call("start_scan"), headers=headers)
                return response.status_code, response.headers["www-authenticate"]

        status, challenge = anyio.run(main)
        assert status == 403
        assert 'error="insufficient_scope", scope="scan"' in challenge
        assert [(e.event_type, e.target, e.detail["reason"]) for e in call_rows(user)] == [
            ("mcp.denied", "start_scan", "insufficient_scope")
        ]
        assert queued_scans(user) == []
