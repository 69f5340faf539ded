"""Every audit event type, in one registry: its stable name and how it reads in the log.

The names are stored in ``AuditEvent.event_type`` and read by people and scripts (the admin's
filter, the audit export, incident response), so a name never changes once released. Nothing
records an event this registry does not know: :func:`compliance.audit.record` refuses it.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # Accounts, grants and sign-in
    ACCOUNT_ADDED = "account.added"
    ACCOUNT_CHANGED = "account.changed"
    ACCOUNTS_DISCOVERED = "accounts.discovered"
    ACCESS_GRANTED = "access.granted"
    ACCESS_REVOKED = "access.revoked"
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    SAML_REFUSED = "auth.saml_refused"
    LOGOUT = "auth.logout"
    ROLE_CHANGED = "auth.role_changed"
    MFA_CHANGED = "auth.mfa_changed"
    ADMIN_REFUSED = "auth.admin_refused"
    PERMISSION_DENIED = "auth.permission_denied"
    CREDENTIAL_REFUSED = "auth.failed"
    OAUTH_REFUSED = "auth.oauth_refused"
    CSRF_FAILED = "csrf.failed"
    REQUEST_REFUSED = "request.refused"
    REQUEST_FORBIDDEN = "request.forbidden"
    MFA_FAILED = "auth.mfa_failed"
    # Policy, scans, costs, exemptions
    POLICY_IMPORTED = "policy.imported"
    POLICY_REJECTED = "policy.rejected"
    ALLOCATION_CHANGED = "allocation.changed"
    SCAN_REQUESTED = "scan.requested"
    SCAN_STARTED = "scan.started"
    SCAN_FINISHED = "scan.finished"
    SCAN_FAILED = "scan.failed"
    COSTS_IMPORTED = "costs.imported"
    COSTS_REJECTED = "costs.rejected"
    COSTS_FETCHED = "costs.fetched"
    EXEMPTION_CREATED = "exemption.created"
    EXEMPTION_REMOVED = "exemption.removed"
    # Exports and reports
    REPORT_GENERATED = "report.generated"
    POLICY_EXPORTED = "export.policy"
    RESOURCES_EXPORTED = "export.resources"
    VIOLATIONS_EXPORTED = "export.violations"
    CUSTODIAN_EXPORTED = "export.custodian"
    SHOWBACK_EXPORTED = "export.showback"
    AUDIT_EXPORTED = "audit.exported"
    # The MCP endpoint and its keys
    MCP_CALL = "mcp.call"
    MCP_DENIED = "mcp.denied"
    KEY_CREATED = "apikey.created"
    KEY_REVOKED = "apikey.revoked"
    # Security operations
    CHECKLIST_EVALUATED = "checklist.evaluated"
    CHECKLIST_ATTESTED = "checklist.attested"
    LOCKDOWN_CHANGED = "lockdown.changed"
    UNTRUSTED_TEXT = "security.untrusted_text"
    RETENTION_PRUNED = "retention.pruned"
    DEMO_SEEDED = "demo.seeded"


#: How each event reads in the admin and the audit export.
DESCRIPTIONS: dict[EventType, str] = {
    EventType.ACCOUNT_ADDED: "An AWS account was registered (or a registration refused)",
    EventType.ACCOUNT_CHANGED: "An AWS account's registration was changed",
    EventType.ACCOUNTS_DISCOVERED: "Member accounts were read from AWS Organizations",
    EventType.ACCESS_GRANTED: "A user or group was granted an account",
    EventType.ACCESS_REVOKED: "An account grant was removed",
    EventType.LOGIN: "Signed in",
    EventType.LOGIN_FAILED: "A sign-in failed",
    EventType.SAML_REFUSED: (
        "A SAML response was refused: signature, audience, recipient, expiry or replay"
    ),
    EventType.LOGOUT: "Signed out",
    EventType.ROLE_CHANGED: "A user's role changed",
    EventType.MFA_CHANGED: "A second factor was added or removed",
    EventType.ADMIN_REFUSED: "The admin site was refused to a signed-in user",
    EventType.PERMISSION_DENIED: "An action was refused: the role or the credential lacks it",
    EventType.CREDENTIAL_REFUSED: "A bearer credential was refused at /mcp",
    EventType.OAUTH_REFUSED: (
        "The OAuth authorization server refused a request: a client's credentials, a code or "
        "refresh token, a registration or an authorization request"
    ),
    EventType.CSRF_FAILED: "A form post failed its CSRF check",
    EventType.REQUEST_REFUSED: "A request was refused before any view ran",
    EventType.REQUEST_FORBIDDEN: "A page or form was refused (403) that no rule-set check audited",
    EventType.MFA_FAILED: "A wrong second-factor code was entered (sign-in or reauthentication)",
    EventType.POLICY_IMPORTED: "A tagging policy version was imported",
    EventType.POLICY_REJECTED: "A tagging policy was refused",
    EventType.ALLOCATION_CHANGED: (
        "Allocation or shared-cost rules were changed (a new allocation version)"
    ),
    EventType.SCAN_REQUESTED: "A scan was requested",
    EventType.SCAN_STARTED: "A scan started",
    EventType.SCAN_FINISHED: "A scan finished",
    EventType.SCAN_FAILED: "A scan failed",
    EventType.COSTS_IMPORTED: "A bill was imported",
    EventType.COSTS_REJECTED: "A bill was refused",
    EventType.COSTS_FETCHED: "Costs were fetched from Cost Explorer",
    EventType.EXEMPTION_CREATED: "A violation was exempted",
    EventType.EXEMPTION_REMOVED: "An exemption was removed",
    EventType.REPORT_GENERATED: "A compliance report was generated",
    EventType.POLICY_EXPORTED: "The policy was exported as an AWS tag policy",
    EventType.RESOURCES_EXPORTED: "The resource list was exported",
    EventType.VIOLATIONS_EXPORTED: "Violations were exported as CSV",
    EventType.CUSTODIAN_EXPORTED: "A Cloud Custodian policy was generated",
    EventType.SHOWBACK_EXPORTED: "The spend per value of a tag key was exported as CSV",
    EventType.AUDIT_EXPORTED: "The audit log was exported",
    EventType.MCP_CALL: "An MCP tool was called",
    EventType.MCP_DENIED: "An MCP tool call was refused",
    EventType.KEY_CREATED: "An API key was created",
    EventType.KEY_REVOKED: "API keys were revoked",
    EventType.CHECKLIST_EVALUATED: "The security checklist was evaluated",
    EventType.CHECKLIST_ATTESTED: "A checklist item was attested",
    EventType.LOCKDOWN_CHANGED: "The MCP lockdown was switched",
    EventType.UNTRUSTED_TEXT: (
        "Text from AWS that reads like instructions to an AI assistant reached an MCP result"
    ),
    EventType.RETENTION_PRUNED: "Old scans or audit rows were pruned",
    EventType.DEMO_SEEDED: "The demo estate was loaded",
}


def known(event_type: str) -> EventType:
    """The registered event type named ``event_type``; ``ValueError`` for any other name."""
    try:
        return EventType(event_type)
    except ValueError:
        raise ValueError(f"unregistered audit event type {event_type!r}") from None
