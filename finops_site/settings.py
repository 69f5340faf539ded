"""Settings, read from the environment (see README.md, "Configuration").

Defaults are the embedded install: a SQLite file under ``DATA_DIR``, one task worker, no Redis.
Anything malformed stops start-up with a message naming the variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from finops_site import sso
from finops_site.env import (
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_origins,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR") or BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """The configured key, else one generated once for this install and kept in DATA_DIR.

    A generated key is unique to the install, so there is never a default or committed key.
    """
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY: must be at least 32 characters")
        return configured
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        key_file.write_text(key, encoding="utf-8")
        key_file.chmod(0o600)
        return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "finops_site.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "allauth.mfa",
    "allauth.idp.oidc",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "compliance",
    "mcp_endpoint",
]

MIDDLEWARE = [
    # First: forwarded headers count only from TRUSTED_PROXY_CIDRS (see the Security section).
    "compliance.web.middleware.ForwardedHeadersFromTrustedProxiesOnly",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "compliance.web.middleware.RefuseNulCharacters",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Signed-in pages are never cached; a password-only session sets up its second factor first.
    "compliance.web.middleware.PrivatePagesNotCached",
    "compliance.web.middleware.SecondFactorForPasswordSignIn",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "finops_site.urls"
WSGI_APPLICATION = "finops_site.wsgi.application"
ASGI_APPLICATION = "finops_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]


def _databases() -> dict[str, Any]:
    url = env_str("DATABASE_URL")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'finops.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    # Read whatever the engine, so that a malformed value stops start-up anywhere.
    pool_size = env_int("DATABASE_POOL_MAX_SIZE", 10, maximum=1000)
    pool_timeout = env_int("DATABASE_POOL_TIMEOUT", 30, minimum=1, maximum=3600)
    engine = str(config.get("ENGINE", ""))
    if engine.endswith("postgresql"):
        _pool_connections(config, pool_size, pool_timeout)
    if engine.endswith("sqlite3"):
        # WAL lets the dashboard read while a scan writes; a busy timeout instead of
        # "database is locked" when the task worker and a command write at once.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        config["CONN_MAX_AGE"] = 0
    elif not engine.endswith("postgresql"):
        raise ImproperlyConfigured(
            f"DATABASE_URL: only sqlite:// and postgres:// URLs are supported, got {engine!r}"
        )
    config.setdefault("TEST", {})
    return {"default": config}


def _pool_connections(config: dj_database_url.DBConfig, max_size: int, timeout: int) -> None:
    """One pool of PostgreSQL connections per process, shared by its threads.

    The ASGI server runs each page's synchronous code in a thread of its own, and the MCP
    endpoint runs its database steps in a pool of threads: a connection kept per thread
    (``CONN_MAX_AGE``) would be opened by every new thread and left open when the thread ends,
    until PostgreSQL refuses new clients ("too many clients"). A pool bounds each process to
    ``DATABASE_POOL_MAX_SIZE`` connections; a request that finds them all busy waits up to
    ``DATABASE_POOL_TIMEOUT`` seconds for one. ``DATABASE_POOL_MAX_SIZE=0`` turns pooling off
    (for an external pooler such as PgBouncer), and ``DATABASE_CONN_MAX_AGE`` applies again.
    """
    # A pooled connection is checked before it is handed out: after a database restart, the
    # pool's idle connections are dead and must not be anyone's first query.
    config["CONN_HEALTH_CHECKS"] = True
    if max_size == 0:
        return
    config["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not keep its own
    config["OPTIONS"] = {
        **config.get("OPTIONS", {}),
        "pool": {"min_size": min(2, max_size), "max_size": max_size, "timeout": timeout},
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL: expected a redis://, rediss:// or unix:// URL")

# Sign-in rate limits, one-time codes and OAuth authorization codes are kept in the cache,
# which every web process must share: Redis when it is configured, a database table otherwise
# (see mcp_endpoint/oauth/shared_state.py).
from mcp_endpoint.oauth.shared_state import cache_settings  # noqa: E402

CACHES = {"default": cache_settings(REDIS_URL)}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
# WhiteNoise serves /static/ from STATIC_ROOT after `collectstatic` (with long-lived caching
# headers), and straight from the source folders before it, so a fresh clone serves its styles.
WHITENOISE_USE_FINDERS = True
if not STATIC_ROOT.exists():
    import warnings

    # Before the first collectstatic the folder is absent; WhiteNoise would warn on every start.
    warnings.filterwarnings("ignore", message=f"No directory at: {STATIC_ROOT}")

# --- Security -------------------------------------------------------------------------------
# Forwarded headers (X-Forwarded-For, X-Forwarded-Proto) are believed only from these networks,
# at every layer: gunicorn.conf.py derives the ASGI server's forwarded_allow_ips from the same
# variable, and compliance.web.network drops the headers of any other peer before Django or the
# MCP endpoint reads them. Nothing is trusted for being local.
TRUSTED_PROXY_CIDRS = env_networks("TRUSTED_PROXY_CIDRS")
# A trusted proxy terminates TLS and says so in X-Forwarded-Proto; without one nobody can.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_CIDRS else None
# HTTPS is the default outside debug: plain HTTP (no redirect, no HSTS, cookies without Secure)
# only when asked for by name, as the demo and the test suite do.
ALLOW_PLAIN_HTTP = env_bool("ALLOW_PLAIN_HTTP", False)
_HTTPS_BY_DEFAULT = not DEBUG and not ALLOW_PLAIN_HTTP
# TLS terminated by gunicorn itself (gunicorn.conf.py reads these): an HTTPS setup with no proxy.
SERVER_TLS_CERT_FILE = env_str("SERVER_TLS_CERT_FILE")
SERVER_TLS_KEY_FILE = env_str("SERVER_TLS_KEY_FILE")
if bool(SERVER_TLS_CERT_FILE) != bool(SERVER_TLS_KEY_FILE):
    raise ImproperlyConfigured("SERVER_TLS_CERT_FILE: set it and SERVER_TLS_KEY_FILE together")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS_BY_DEFAULT)
# Load balancers probe their targets over plain HTTP without forwarded headers: a redirect
# would mark the target unhealthy. The probes say nothing beyond "up" (compliance/web/health.py).
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS_BY_DEFAULT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        # Sign-in forms post to allauth, which redirects to the identity provider: browsers
        # apply form-action to that redirect too.
        "form-action": [SELF, *sso.form_action_origins()],
    },
}

# --- MCP guards and API keys (used by mcp_endpoint) -------------------------------------------
MCP_ALLOWED_ORIGINS = env_origins("MCP_ALLOWED_ORIGINS")
MCP_MAX_CALLS_PER_HOUR = env_int("MCP_MAX_CALLS_PER_HOUR", 1000, minimum=1)
MCP_MAX_IDENTICAL_CALLS = env_int("MCP_MAX_IDENTICAL_CALLS", 10, minimum=1)
MCP_LOOP_WINDOW_SECONDS = env_int("MCP_LOOP_WINDOW_SECONDS", 300, minimum=1)
MCP_MAX_REQUEST_BYTES = env_int("MCP_MAX_REQUEST_BYTES", 65536, minimum=1024)
MCP_TOOL_TIMEOUT_SECONDS = env_int("MCP_TOOL_TIMEOUT_SECONDS", 30, minimum=1)
API_KEY_MAX_AGE_DAYS = env_int("API_KEY_MAX_AGE_DAYS", 90, minimum=1, maximum=3650)
MCP_RATE_LIMIT_PER_MINUTE = env_int("MCP_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
MCP_MAX_JSON_DEPTH = env_int("MCP_MAX_JSON_DEPTH", 20, minimum=4, maximum=200)
MCP_MAX_JSON_KEYS = env_int("MCP_MAX_JSON_KEYS", 1000, minimum=16)
# Security events: logged on the "security" logger once a source reaches the threshold within
# the window (see mcp_endpoint/monitoring.py).
MCP_ALERT_WINDOW_SECONDS = env_int("MCP_ALERT_WINDOW_SECONDS", 300, minimum=1)
MCP_ALERT_AUTH_FAILURES = env_int("MCP_ALERT_AUTH_FAILURES", 5, minimum=1)
MCP_ALERT_UNKNOWN_TOOLS = env_int("MCP_ALERT_UNKNOWN_TOOLS", 3, minimum=1)
MCP_ALERT_REFUSED_INPUTS = env_int("MCP_ALERT_REFUSED_INPUTS", 5, minimum=1)
MCP_ALERT_BUDGET_EXHAUSTED = env_int("MCP_ALERT_BUDGET_EXHAUSTED", 1, minimum=1)

# --- Security checklist and incident response (compliance/checklist, reads/incident.py) ---
# Refuses every MCP call while true (the admin's lockdown switch does the same from the database).
MCP_LOCKDOWN = env_bool("MCP_LOCKDOWN", False)
# The EC2 instance serving this app, for the "no public IP" check (IMDS is not queried).
SERVER_INSTANCE_ID = env_str("SERVER_INSTANCE_ID")
SERVER_REGION = env_str("SERVER_REGION")
# ALB/NLB ARNs in front of the app, for the "access logs on" check.
CHECKLIST_LOAD_BALANCER_ARNS = env_list("CHECKLIST_LOAD_BALANCER_ARNS")

# --- Scans -----------------------------------------------------------------------------------
SCAN_MAX_WORKERS = env_int("SCAN_MAX_WORKERS", 8, minimum=1, maximum=64)
SCAN_BATCH_SIZE = env_int("SCAN_BATCH_SIZE", 1000, minimum=1, maximum=10000)
#: The resource types a scan lists when it names none (comma-separated; empty: every supported
#: type). For estates that use few services, or an AWS-compatible endpoint serving only some.
SCAN_DEFAULT_TYPES = env_list("SCAN_DEFAULT_TYPES")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "mcp_endpoint.monitoring.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "security_json": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
        # The SDK logs a line per stateless request ("Terminating session: None").
        "mcp.server.streamable_http": {"level": "WARNING"},
        # Security events as one JSON object per line (ready for CloudWatch metric filters).
        "security": {"handlers": ["security_json"], "level": "WARNING", "propagate": False},
    },
}

# --- Sign-in (django-allauth; see finops_site/sso.py and docs/sign-in.md) ---------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "compliance:overview"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_ADAPTER = "compliance.web.signin.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "compliance.web.signin.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
# Local accounts are created by an admin (or `createsuperuser`); nobody signs up on their own.
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# allauth's limits on failed logins (per IP and per account), password resets and MFA attempts.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "reauthenticate": "10/m/user",
}
ALLAUTH_TRUSTED_PROXY_COUNT = 0  # client addresses come from compliance.web.signin (trusted CIDRs)
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = sso.providers()
# SSO-only: password sign-in and the local account pages are switched off.
SOCIALACCOUNT_ONLY = env_bool("SSO_ONLY", False)
if SOCIALACCOUNT_ONLY and not SOCIALACCOUNT_PROVIDERS:
    raise ImproperlyConfigured("SSO_ONLY: set OIDC_ISSUER_URL or SAML_IDP_ENTITY_ID as well")
# Role given to a person on their first SSO sign-in, and IdP groups mapped to roles on each one.
SSO_DEFAULT_ROLE = sso.role_setting("SSO_DEFAULT_ROLE", "viewer")
SSO_ROLE_GROUPS = sso.role_groups("SSO_ROLE_GROUPS")
SSO_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# The admin site takes only sessions signed in through SSO or with a second factor.
ADMIN_REQUIRES_MFA_OR_SSO = env_bool("ADMIN_REQUIRES_MFA_OR_SSO", True)
# Someone signed in with a password and no second factor sets one up (TOTP) before any page.
PASSWORD_SIGNIN_REQUIRES_MFA = env_bool("PASSWORD_SIGNIN_REQUIRES_MFA", True)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "Tag compliance")
MFA_PASSKEY_LOGIN_ENABLED = False
# A refused CSRF check is audited (see compliance/web/csrf.py).
CSRF_FAILURE_VIEW = "compliance.web.csrf.csrf_failure"

# --- OAuth for MCP clients (mcp_endpoint/oauth; see docs/mcp-clients.md, "OAuth") -------------
# allauth's OpenID Connect provider is the authorization server of /mcp. It is on only when a
# signing key (RSA, PEM) is configured; without one its URLs answer 404 and /mcp takes API keys.
from mcp_endpoint.oauth.signing_key import checked_private_key  # noqa: E402

IDP_OIDC_PRIVATE_KEY = checked_private_key(env_str("OIDC_IDP_PRIVATE_KEY"), "OIDC_IDP_PRIVATE_KEY")
IDP_OIDC_ADAPTER = "mcp_endpoint.oauth.adapter.McpOIDCAdapter"
IDP_OIDC_ACCESS_TOKEN_EXPIRES_IN = env_int(
    "MCP_OAUTH_ACCESS_TOKEN_SECONDS", 3600, minimum=60, maximum=86400
)
# Self-registration of MCP clients, open to anyone who can reach the server (rate limited per
# address): dynamic client registration (RFC 7591) and client ID metadata documents.
MCP_OAUTH_DCR_ENABLED = env_bool("MCP_OAUTH_DCR_ENABLED", False)
IDP_OIDC_DCR_ENABLED = MCP_OAUTH_DCR_ENABLED
IDP_OIDC_DCR_REQUIRES_INITIAL_ACCESS_TOKEN = False
IDP_OIDC_CIMD_ENABLED = env_bool("MCP_OAUTH_CIMD_ENABLED", False)
# Registrations per address (allauth's rate notation; an assistant vendor's connectors share a
# few egress addresses), and per hour for the whole server (0: no ceiling).
from mcp_endpoint.oauth import limits as _oauth_limits  # noqa: E402

IDP_OIDC_RATE_LIMITS = {
    "client_registration": _oauth_limits.checked_rate_limit(
        env_str("MCP_OAUTH_DCR_RATE_LIMIT", _oauth_limits.DEFAULT_DCR_RATE_LIMIT),
        "MCP_OAUTH_DCR_RATE_LIMIT",
    )
}
MCP_OAUTH_DCR_MAX_PER_HOUR = env_int(
    "MCP_OAUTH_DCR_MAX_PER_HOUR", _oauth_limits.DEFAULT_DCR_MAX_PER_HOUR, maximum=1_000_000
)

# --- Retention (compliance/writes/retention.py; `manage.py prune`, see docs/deployment.md) ---
# Scans finished longer ago than this go, with their snapshots (the latest scans and any a
# current resource or violation refers to stay); audit events older than this go.
RETENTION_SCAN_DAYS = env_int("RETENTION_SCAN_DAYS", 400, minimum=1)
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 365, minimum=1)
# Rows deleted per transaction: short transactions keep every lock short.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 5000, minimum=1, maximum=100000)

# --- Scan watchdog (compliance/scans/watchdog.py; `manage.py fail_stale_scans`, docs/deployment.md)
# A scan "running" with no sign of life for this long is taken for lost (its worker was killed):
# a fanned-out scan is queued again, any other is failed; checked by every scan task before its
# scan and by the command (cron). Keep it above the longest one-process scan: those have no
# heartbeat, so their start is their only sign of life.
SCAN_STALE_AFTER_SECONDS = env_int("SCAN_STALE_AFTER_SECONDS", 3600, minimum=1)

# --- Scan fan-out (compliance/scans/fanout.py; docs/performance.md, "Organisation scans") ------
# A scan started as a task (dashboard, MCP) that covers more than one account x region is split
# into one task per account x region, shared by every `manage.py db_worker`; off: one task runs
# the whole scan, as `manage.py scan` does.
SCAN_FANOUT = env_bool("SCAN_FANOUT", True)
