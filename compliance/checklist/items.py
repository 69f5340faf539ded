"""The checklist: the deployment guidance's items, each with how we evaluate it.

Required items gate ``manage.py security_checklist``: one that fails, or whose attestation has
expired, makes it exit non-zero. They are the ones whose absence leaves the service open to
misuse; the rest improve detection or cost attribution, or cannot be known without a person.
"""

from __future__ import annotations

from compliance.checklist import aws_checks, local_checks, proxy_checks
from compliance.checklist.base import Item, Kind, Section

_A = Section.AUTHENTICATION
_N = Section.NETWORK
_P = Section.APPLICATION
_C = Section.CREDENTIALS
_M = Section.MONITORING

ITEMS: tuple[Item, ...] = (
    Item(
        "auth.required",
        _A,
        "The MCP endpoint and the dashboard require authentication",
        True,
        Kind.AUTOMATIC,
        "Every path must refuse anonymous requests; check finops_site/urls.py and asgi.py.",
        local_checks.authentication_required,
    ),
    Item(
        "auth.before_proxying",
        _A,
        "No proxy path reaches the application around its authentication",
        False,
        Kind.ATTESTED,
        "Attest that the load balancer and any proxy forward only to the app (which "
        "authenticates every request) and expose no other port or path.",
    ),
    Item(
        "auth.no_localhost_trust",
        _A,
        "No request is trusted for its address; forwarded headers only from trusted proxies",
        True,
        Kind.AUTOMATIC,
        "List only your load balancer's or proxy's addresses in TRUSTED_PROXY_CIDRS.",
        local_checks.no_localhost_trust,
    ),
    Item(
        "auth.sign_in_hardening",
        _A,
        "Dashboard sign-in: failed logins rate-limited, no self sign-up, sessions expire",
        True,
        Kind.AUTOMATIC,
        "Keep allauth's login_failed limit (LOGIN_FAILED_RATE_LIMIT), local sign-up closed, and "
        "SESSION_COOKIE_AGE at a working day or less.",
        local_checks.sign_in_hardening,
    ),
    Item(
        "auth.admin_strong_sign_in",
        _A,
        "The admin site only through the same sign-in, with SSO or a second factor",
        True,
        Kind.AUTOMATIC,
        "Leave ADMIN_REQUIRES_MFA_OR_SSO on; give admins SSO or an authenticator app.",
        local_checks.admin_strong_sign_in,
    ),
    Item(
        "auth.password_sign_in_mfa",
        _A,
        "MFA required for password sign-in",
        True,
        Kind.AUTOMATIC,
        "Leave PASSWORD_SIGNIN_REQUIRES_MFA on (or sign in through SSO only, SSO_ONLY): "
        "local accounts then set up an authenticator app before reaching the dashboard.",
        local_checks.password_sign_in_mfa,
    ),
    Item(
        "network.tls",
        _N,
        "TLS enforced: HTTPS redirect or TLS-terminating proxy, HSTS, Secure cookies",
        True,
        Kind.AUTOMATIC,
        "Set SECURE_SSL_REDIRECT (or TRUSTED_PROXY_CIDRS with SECURE_PROXY_SSL_HEADER), "
        "SECURE_HSTS_SECONDS and SESSION_COOKIE_SECURE.",
        local_checks.tls_enforced,
    ),
    Item(
        "network.proxy_headers",
        _N,
        "Forwarded headers and HTTPS believed only from trusted proxies, at every layer",
        True,
        Kind.AUTOMATIC,
        "List only the load balancer's addresses in TRUSTED_PROXY_CIDRS (SECURE_PROXY_SSL_HEADER "
        "and gunicorn.conf.py follow it), leave FORWARDED_ALLOW_IPS unset, and terminate TLS at "
        "the proxy or with SERVER_TLS_CERT_FILE; ALLOW_PLAIN_HTTP only for local trials.",
        proxy_checks.proxy_configuration,
    ),
    Item(
        "network.private_server",
        _N,
        "Server without a public IP, inbound only from the load balancer, VPC endpoints",
        True,
        Kind.AWS,
        "Set SERVER_INSTANCE_ID for the automatic check, or attest with the network design.",
        aws_checks.server_not_exposed,
    ),
    Item(
        "app.cors",
        _P,
        "CORS restricted to listed origins",
        True,
        Kind.AUTOMATIC,
        "List exact origins in MCP_ALLOWED_ORIGINS; never a wildcard.",
        local_checks.cors_restricted,
    ),
    Item(
        "app.request_sanitisation",
        _P,
        "Request sanitisation enabled",
        True,
        Kind.AUTOMATIC,
        "Keep MCP_MAX_REQUEST_BYTES, MCP_MAX_JSON_DEPTH and MCP_MAX_JSON_KEYS near defaults.",
        local_checks.request_sanitisation,
    ),
    Item(
        "app.call_budget",
        _P,
        "Call budget and rate limit enabled",
        True,
        Kind.AUTOMATIC,
        "Keep MCP_MAX_CALLS_PER_HOUR and MCP_RATE_LIMIT_PER_MINUTE near defaults.",
        local_checks.call_budget,
    ),
    Item(
        "app.loop_detection",
        _P,
        "Loop detection enabled",
        True,
        Kind.AUTOMATIC,
        "Keep MCP_MAX_IDENTICAL_CALLS and MCP_LOOP_WINDOW_SECONDS near defaults.",
        local_checks.loop_detection,
    ),
    Item(
        "app.security_monitoring",
        _P,
        "Security monitoring enabled",
        True,
        Kind.AUTOMATIC,
        "Keep the MCP_ALERT_* thresholds low.",
        local_checks.security_monitoring,
    ),
    Item(
        "credentials.aws_role",
        _C,
        "AWS credentials from an instance or task role, not environment variables or files",
        True,
        Kind.AUTOMATIC,
        "Attach an instance profile or ECS task role; remove AWS_ACCESS_KEY_ID and "
        "credential files.",
        local_checks.aws_credentials_from_role,
    ),
    Item(
        "credentials.secret_key",
        _C,
        "No default or committed secret key",
        True,
        Kind.AUTOMATIC,
        "Generate a key (50+ random characters) into DJANGO_SECRET_KEY_FILE from a secrets "
        "manager; see docs/incident-response.md to rotate.",
        local_checks.secret_key_not_default,
    ),
    Item(
        "credentials.api_keys_in_secrets_manager",
        _C,
        "API keys held by clients in a secrets manager",
        False,
        Kind.ATTESTED,
        "Attest where the MCP clients keep their keys.",
    ),
    Item(
        "credentials.api_key_age",
        _C,
        "No active API key older than API_KEY_MAX_AGE_DAYS",
        True,
        Kind.AUTOMATIC,
        "Rotate the listed keys, then revoke them.",
        local_checks.api_key_age,
    ),
    Item(
        "monitoring.security_logs",
        _M,
        "Structured security logs enabled",
        True,
        Kind.AUTOMATIC,
        "Keep the 'security' logger on the JSON formatter (LOGGING in settings).",
        local_checks.structured_security_logs,
    ),
    Item(
        "monitoring.cloudtrail",
        _M,
        "CloudTrail enabled and logging in each scanned account",
        True,
        Kind.AWS,
        "Create a multi-region trail and start logging in each account.",
        aws_checks.cloudtrail_logging,
    ),
    Item(
        "monitoring.lb_access_logs",
        _M,
        "Load balancer access logs on",
        False,
        Kind.AWS,
        "Set CHECKLIST_LOAD_BALANCER_ARNS for the automatic check, or attest.",
        aws_checks.load_balancer_access_logs,
    ),
    Item(
        "monitoring.alerts",
        _M,
        "Alerts configured for security events",
        False,
        Kind.ATTESTED,
        "Attest the metric filters and alarms on the 'security' log events.",
    ),
    Item(
        "finops.cost_allocation_tags",
        Section.FINOPS,
        "Every required tag key activated as a cost allocation tag",
        False,
        Kind.AWS,
        "Activate the keys in Billing > Cost allocation tags (payer account).",
        aws_checks.cost_allocation_tags_active,
    ),
    Item(
        "incident.runbook",
        Section.INCIDENT_RESPONSE,
        "Incident response runbook documented",
        True,
        Kind.ATTESTED,
        "Attest with a link to your runbook (start from docs/incident-response.md).",
        link_required=True,
    ),
    Item(
        "incident.contacts",
        Section.INCIDENT_RESPONSE,
        "Contact list for security incidents",
        True,
        Kind.ATTESTED,
        "Attest with a link to the contact list.",
        link_required=True,
    ),
    Item(
        "incident.backup_restore",
        Section.INCIDENT_RESPONSE,
        "Backup and restore procedure tested",
        True,
        Kind.ATTESTED,
        "Attest with a link to the record of the last restore test.",
        link_required=True,
    ),
)

ITEMS_BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}
