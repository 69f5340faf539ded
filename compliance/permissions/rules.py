"""What each caller may do: one rule per action, consulted by every read and write.

A rule joins two questions. The **role** (``compliance.permissions.roles``: Django groups
holding model permissions) says what a person may do. A **credential** (an MCP API key or an
OAuth token, :class:`NarrowedViewer` with ``scopes``) can only narrow that: its rights are the
intersection of its scopes and its user's role, read at call time, so demoting a person takes
effect on their keys and tokens at once. Operators (shell access to the server) may do
anything. Which *accounts* a caller sees is the other half of permissions, in
``compliance.permissions.accounts``.

The rules are ``rules`` predicates so that each reads as the sentence it implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from rules.predicates import Predicate
from rules.rulesets import RuleSet

from compliance.permissions import roles
from compliance.permissions.callers import NarrowedViewer, Operator, Viewer, person_of


class Action(StrEnum):
    VIEW = "view"
    EXPORT = "export"
    START_SCAN = "start_scan"
    VIEW_CHECKLIST = "view_checklist"
    RUN_CHECKLIST = "run_checklist"
    ATTEST = "attest"
    CREATE_EXEMPTION = "create_exemption"
    REMOVE_EXEMPTION = "remove_exemption"
    MANAGE_ACCOUNTS = "manage_accounts"
    IMPORT_POLICY = "import_policy"
    IMPORT_COSTS = "import_costs"
    MANAGE_ALLOCATION = "manage_allocation"
    MANAGE_GRANTS = "manage_grants"
    MANAGE_KEYS = "manage_keys"
    MANAGE_USERS = "manage_users"
    LOCKDOWN = "lockdown"
    EXPORT_AUDIT_LOG = "export_audit_log"
    PRUNE = "prune"


#: The MCP scopes a credential can hold.
READ_SCOPE = "read"
SCAN_SCOPE = "scan"
SCOPES: tuple[str, ...] = (READ_SCOPE, SCAN_SCOPE)


@dataclass(frozen=True, slots=True)
class Rule:
    """``permission``: the role's model permission; ``scope``: the credential scope the action
    needs (``None``: never through a credential, only signed in on the dashboard or admin)."""

    permission: str
    scope: str | None
    words: str


RULES: dict[Action, Rule] = {
    Action.VIEW: Rule(roles.VIEW, READ_SCOPE, "read compliance and cost data"),
    Action.EXPORT: Rule(roles.EXPORT, READ_SCOPE, "export data (CSV, policies, reports)"),
    Action.START_SCAN: Rule(roles.START_SCAN, SCAN_SCOPE, "start scans"),
    Action.VIEW_CHECKLIST: Rule(roles.VIEW_CHECKLIST, READ_SCOPE, "see the security checklist"),
    Action.RUN_CHECKLIST: Rule("compliance.run_checklist", None, "run the security checklist"),
    Action.ATTEST: Rule("compliance.add_attestation", None, "attest checklist items"),
    Action.CREATE_EXEMPTION: Rule("compliance.add_exemption", None, "exempt violations"),
    Action.REMOVE_EXEMPTION: Rule("compliance.delete_exemption", None, "remove exemptions"),
    Action.MANAGE_ACCOUNTS: Rule("compliance.add_awsaccount", None, "register AWS accounts"),
    Action.IMPORT_POLICY: Rule("compliance.add_taggingpolicy", None, "import tagging policies"),
    Action.IMPORT_COSTS: Rule("compliance.add_billingimport", None, "load bills and costs"),
    Action.MANAGE_ALLOCATION: Rule(
        "compliance.change_allocationrule", None, "change allocation and shared-cost rules"
    ),
    Action.MANAGE_GRANTS: Rule("compliance.add_accountaccess", None, "grant account access"),
    Action.MANAGE_KEYS: Rule("mcp_endpoint.add_apikey", None, "create and revoke API keys"),
    Action.MANAGE_USERS: Rule("auth.change_user", None, "change people's roles"),
    Action.LOCKDOWN: Rule("compliance.change_lockdownstate", None, "switch the MCP lockdown"),
    Action.EXPORT_AUDIT_LOG: Rule("compliance.view_auditevent", None, "export the audit log"),
    Action.PRUNE: Rule("compliance.delete_scan", None, "prune old scans and audit rows"),
}


def _is_operator(caller: Viewer) -> bool:
    return isinstance(caller, Operator)


def _role_allows(permission: str, caller: Viewer) -> bool:
    person = person_of(caller)
    if person is None or not person.is_active:
        return False
    return isinstance(person, PermissionsMixin) and person.has_perm(permission)


def _credential_allows(scope: str | None, caller: Viewer) -> bool:
    if not isinstance(caller, NarrowedViewer) or caller.scopes is None:
        return True  # signed in as themselves: the role alone decides
    return scope is not None and scope in caller.scopes


is_operator = Predicate(_is_operator, name="is operator")


def role_allows(permission: str) -> Predicate:
    return Predicate(partial(_role_allows, permission), name=f"role allows {permission}")


def credential_allows(scope: str | None) -> Predicate:
    return Predicate(partial(_credential_allows, scope), name=f"credential allows {scope}")


_RULE_SET = RuleSet()
for _action, _rule in RULES.items():
    _RULE_SET.add_rule(
        _action, is_operator | (role_allows(_rule.permission) & credential_allows(_rule.scope))
    )


def may(caller: Viewer, action: Action) -> bool:
    return bool(_RULE_SET.test_rule(action, caller))


def may_by_role(caller: Viewer, action: Action) -> bool:
    """Whether the caller's role (ignoring any credential's scopes) allows ``action``."""
    return bool(is_operator(caller) or role_allows(RULES[action].permission)(caller))


def scopes_for(user: AbstractBaseUser | AnonymousUser) -> tuple[str, ...]:
    """The credential scopes worth offering ``user``: those whose actions their role allows.
    ``create_api_key`` and the OAuth consent page offer no other."""
    return tuple(
        scope
        for scope in SCOPES
        if any(
            rule.scope == scope and role_allows(rule.permission)(user) for rule in RULES.values()
        )
    )


def refusal_message(caller: Viewer, action: Action) -> str:
    """Why ``caller`` may not do ``action``, in words for them (no other caller's details)."""
    rule = RULES[action]
    person = person_of(caller)
    if person is not None and person.is_authenticated and not person.is_active:
        return f"an inactive account may not {rule.words}"
    if not may_by_role(caller, action):
        needed = roles.role_needed(rule.permission)
        role = roles.role_of(person) if isinstance(person, AbstractBaseUser) else None
        held = f"your role ({role.value})" if role else "you have no role, so you"
        wanted = f"the {needed.value} role" if needed else "a permission no role holds"
        return f"{held} may not {rule.words}: that takes {wanted}"
    if rule.scope is None:
        return f"a credential may not {rule.words}: sign in to the dashboard to do it"
    return f"this credential lacks the '{rule.scope}' scope needed to {rule.words}"
