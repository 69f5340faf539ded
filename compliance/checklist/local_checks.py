"""Checklist items evaluated from the running system: settings, logging, the database, and
requests sent in process to the application as it is served (Django, and the MCP endpoint on
the path it registered in :mod:`compliance.checklist.facts`)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from asgiref.sync import async_to_sync
from django.conf import settings

from compliance.checklist import facts
from compliance.checklist.base import Context, Outcome, Status
from compliance.checklist.facts import AsgiApp, McpEndpointFacts

#: Django's own "insecure" prefix and the placeholders tutorials and templates ship with.
_PLACEHOLDER_KEYS = ("django-insecure", "change-me", "changeme", "secret", "your-secret-key")
#: Where a committed key would be: source and configuration files of the project.
_SOURCE_SUFFIXES = {".py", ".env", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".json", ".txt"}
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "staticfiles", "__pycache__", "var"}
_MAX_SOURCE_BYTES = 1_000_000
#: The event name of the sample the security log's formatter is asked to write.
_SAMPLE_EVENT = "security_checklist_sample"


# --- Authentication -----------------------------------------------------------------------------


async def _probe(app: AsgiApp, method: str, path: str, host: str) -> tuple[int, str]:
    """Send one request without credentials; the status and Location of the answer."""
    sent: list[MutableMapping[str, Any]] = []
    body_sent = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        # Like a real client: disconnect only once the response is complete (Django abandons
        # a response whose client has gone).
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", host.encode()),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
            # Names the probe in the audit row its refusal writes.
            (b"x-correlation-id", f"security-checklist-{uuid.uuid4().hex[:16]}".encode()),
        ],
        "client": None,
        "server": (host, 443),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return int(start["status"]), headers.get("location", "")


def _probe_host() -> str:
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".") or "localhost"
    return "localhost"


def _probed_application() -> tuple[AsgiApp, McpEndpointFacts | None]:
    """The application as it is served, as the MCP endpoint registered it (the endpoint on its
    path, Django for every other path); Django alone when no endpoint registered itself."""
    endpoint = facts.mcp_endpoint()
    if endpoint is None:
        from django.core.handlers.asgi import ASGIHandler

        return cast("AsgiApp", ASGIHandler()), None
    return endpoint.build_application(), endpoint


def authentication_required(ctx: Context) -> Outcome:
    """Asks the real application, as an anonymous client would: routing or a decorator
    forgotten anywhere shows up here, not only a setting."""
    app, endpoint = _probed_application()
    host = _probe_host()
    expectations = [
        ("GET", "/", "a redirect to sign-in"),
        ("GET", "/admin/", "a redirect to sign-in"),
    ]
    if endpoint is not None:
        expectations.insert(0, ("POST", endpoint.path, "401 with a Bearer challenge"))
    failures, seen = [], []
    for method, path, expected in expectations:
        status, location = async_to_sync(_probe)(app, method, path, host)
        seen.append(f"{method} {path} -> {status}")
        if endpoint is not None and path == endpoint.path:
            ok = status == 401
        else:
            ok = status in (301, 302, 303, 307) and "login" in location
        if not ok:
            failures.append(
                f"{method} {path} answered {status} without credentials, expected {expected}"
            )
    if failures:
        return Outcome(Status.FAIL, "; ".join(failures))
    if endpoint is None:
        return Outcome(
            Status.UNKNOWN,
            "Anonymous requests refused: " + ", ".join(seen) + "; the MCP endpoint has not "
            "registered itself (mcp_endpoint not installed?), so its path was not asked",
        )
    return Outcome(Status.PASS, "Anonymous requests refused: " + ", ".join(seen))


def no_localhost_trust(ctx: Context) -> Outcome:
    networks = list(settings.TRUSTED_PROXY_CIDRS)
    everyone = [str(n) for n in networks if n.prefixlen == 0]
    if everyone:
        return Outcome(
            Status.FAIL,
            f"TRUSTED_PROXY_CIDRS contains {', '.join(everyone)}: any client can spoof "
            "X-Forwarded-For",
        )
    wide = [str(n) for n in networks if not n.is_private and n.prefixlen < 16]
    if wide:
        return Outcome(
            Status.ATTENTION,
            f"TRUSTED_PROXY_CIDRS trusts wide public networks ({', '.join(wide)}); list only "
            "the load balancer's or proxy's addresses",
        )
    if not networks:
        return Outcome(
            Status.PASS,
            "No proxy trusted: X-Forwarded-For is ignored and the peer address is used; no "
            "request is trusted for its address (authentication is always required)",
        )
    return Outcome(
        Status.PASS,
        "Forwarded headers believed only from "
        + ", ".join(str(n) for n in networks)
        + "; no request is trusted for its address",
    )


# --- Network ------------------------------------------------------------------------------------


def sign_in_hardening(ctx: Context) -> Outcome:
    from allauth.account.adapter import get_adapter

    problems = []
    limits: object = settings.ACCOUNT_RATE_LIMITS  # allauth also takes False: no limits at all
    login_failed = limits.get("login_failed") if isinstance(limits, dict) else None
    if not login_failed:
        problems.append("failed sign-ins are not rate-limited (ACCOUNT_RATE_LIMITS login_failed)")
    if get_adapter().is_open_for_signup(None):
        problems.append("anyone can create a local account (sign-up is open)")
    if problems:
        return Outcome(Status.FAIL, "; ".join(problems))
    hours = settings.SESSION_COOKIE_AGE / 3600
    evidence = (
        f"Failed sign-ins limited ({login_failed}), local sign-up closed, "
        f"sessions expire after {hours:g} h"
    )
    if hours > 24:
        return Outcome(Status.ATTENTION, evidence + ": longer than a day")
    return Outcome(Status.PASS, evidence)


def admin_strong_sign_in(ctx: Context) -> Outcome:
    if not settings.ADMIN_REQUIRES_MFA_OR_SSO:
        return Outcome(
            Status.FAIL,
            "ADMIN_REQUIRES_MFA_OR_SSO is off: a stolen admin password alone opens the admin",
        )
    return Outcome(
        Status.PASS,
        "The admin has no login form of its own; it takes sessions signed in through SSO or "
        "with a second factor",
    )


def password_sign_in_mfa(ctx: Context) -> Outcome:
    if settings.SOCIALACCOUNT_ONLY:
        return Outcome(Status.PASS, "SSO_ONLY is on: nobody signs in with a password")
    if not settings.PASSWORD_SIGNIN_REQUIRES_MFA:
        return Outcome(
            Status.FAIL,
            "PASSWORD_SIGNIN_REQUIRES_MFA is off: a stolen password alone opens the dashboard",
        )
    return Outcome(
        Status.PASS,
        "A password sign-in without a second factor must set one up before any page opens",
    )


def tls_enforced(ctx: Context) -> Outcome:
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    redirect = bool(settings.SECURE_SSL_REDIRECT)
    terminating_proxy = bool(settings.TRUSTED_PROXY_CIDRS) and proxy_header is not None
    problems = []
    if not (redirect or terminating_proxy):
        problems.append(
            "neither SECURE_SSL_REDIRECT nor a trusted TLS-terminating proxy "
            "(TRUSTED_PROXY_CIDRS with SECURE_PROXY_SSL_HEADER)"
        )
    if settings.SECURE_HSTS_SECONDS <= 0:
        problems.append("HSTS off (SECURE_HSTS_SECONDS=0)")
    if not settings.SESSION_COOKIE_SECURE:
        problems.append("session cookie not Secure (SESSION_COOKIE_SECURE)")
    if not settings.CSRF_COOKIE_SECURE:
        problems.append("CSRF cookie not Secure (CSRF_COOKIE_SECURE)")
    if problems:
        return Outcome(Status.FAIL, "; ".join(problems))
    how = "SECURE_SSL_REDIRECT" if redirect else "TLS-terminating proxy"
    return Outcome(
        Status.PASS,
        f"HTTPS via {how}; HSTS {settings.SECURE_HSTS_SECONDS} s; session and CSRF cookies Secure",
    )


# --- Application --------------------------------------------------------------------------------


def cors_restricted(ctx: Context) -> Outcome:
    origins = list(settings.MCP_ALLOWED_ORIGINS)
    wildcards = [o for o in origins if "*" in o or o == "null"]
    if getattr(settings, "CORS_ALLOW_ALL_ORIGINS", False) or getattr(
        settings, "CORS_ORIGIN_ALLOW_ALL", False
    ):
        wildcards.append("CORS_ALLOW_ALL_ORIGINS=True")
    wildcards += [o for o in settings.CSRF_TRUSTED_ORIGINS if "*" in o]
    if wildcards:
        return Outcome(Status.FAIL, f"Wildcard origins allowed: {', '.join(wildcards)}")
    if not origins:
        return Outcome(
            Status.PASS,
            "CORS closed: MCP_ALLOWED_ORIGINS is empty, every browser Origin is refused",
        )
    return Outcome(Status.PASS, f"Only listed origins: {', '.join(origins)}")


def request_sanitisation(ctx: Context) -> Outcome:
    limits = {
        "MCP_MAX_REQUEST_BYTES": (settings.MCP_MAX_REQUEST_BYTES, 1_048_576),
        "MCP_MAX_JSON_DEPTH": (settings.MCP_MAX_JSON_DEPTH, 64),
        "MCP_MAX_JSON_KEYS": (settings.MCP_MAX_JSON_KEYS, 100_000),
    }
    return _limits_outcome(
        limits, "Bodies, JSON depth and key counts capped; tool inputs schema-validated"
    )


def call_budget(ctx: Context) -> Outcome:
    limits = {
        "MCP_MAX_CALLS_PER_HOUR": (settings.MCP_MAX_CALLS_PER_HOUR, 100_000),
        "MCP_RATE_LIMIT_PER_MINUTE": (settings.MCP_RATE_LIMIT_PER_MINUTE, 10_000),
        "MCP_TOOL_TIMEOUT_SECONDS": (settings.MCP_TOOL_TIMEOUT_SECONDS, 600),
    }
    return _limits_outcome(limits, "Per-key hourly budget, rate limit and tool timeout")


def loop_detection(ctx: Context) -> Outcome:
    limits = {
        "MCP_MAX_IDENTICAL_CALLS": (settings.MCP_MAX_IDENTICAL_CALLS, 1000),
    }
    outcome = _limits_outcome(limits, "Identical calls refused past the limit")
    if outcome.status == Status.PASS and settings.MCP_LOOP_WINDOW_SECONDS < 10:
        return Outcome(
            Status.ATTENTION,
            f"MCP_LOOP_WINDOW_SECONDS={settings.MCP_LOOP_WINDOW_SECONDS}: a window this short "
            "lets a loop through",
        )
    return outcome


def security_monitoring(ctx: Context) -> Outcome:
    limits = {
        name: (getattr(settings, name), 1000)
        for name in (
            "MCP_ALERT_AUTH_FAILURES",
            "MCP_ALERT_UNKNOWN_TOOLS",
            "MCP_ALERT_REFUSED_INPUTS",
            "MCP_ALERT_BUDGET_EXHAUSTED",
        )
    }
    return _limits_outcome(
        limits, "Auth failures, unknown tools, refused inputs and exhausted budgets alerted on"
    )


def _limits_outcome(limits: dict[str, tuple[int, int]], summary: str) -> Outcome:
    """Every guard is always on in code; configuration can only make it toothless."""
    loose = [
        f"{name}={value} (above {ceiling})"
        for name, (value, ceiling) in limits.items()
        if value > ceiling
    ]
    current = ", ".join(f"{name}={value}" for name, (value, _c) in limits.items())
    if loose:
        return Outcome(Status.ATTENTION, "Set so high it no longer protects: " + "; ".join(loose))
    return Outcome(Status.PASS, f"{summary} ({current})")


# --- Credentials --------------------------------------------------------------------------------


def aws_credentials_from_role(ctx: Context) -> Outcome:
    from compliance.aws.checklist_checks import (
        ROLE_CREDENTIAL_METHODS,
        STATIC_CREDENTIAL_METHODS,
        credential_method,
    )

    method = credential_method(ctx.session_for(None))
    if method is None:
        return Outcome(Status.ATTENTION, "No AWS credentials found by the default chain")
    if method in ROLE_CREDENTIAL_METHODS:
        return Outcome(Status.PASS, f"Temporary role credentials (boto3 method {method!r})")
    if method in STATIC_CREDENTIAL_METHODS:
        return Outcome(
            Status.FAIL,
            f"Long-lived credentials from {method!r} (environment variables or a file); "
            "attach an instance profile or task role instead",
        )
    return Outcome(Status.ATTENTION, f"Credentials from {method!r}: not an instance or task role")


def _committed_in(root: Path, secret: str, skip: set[Path]) -> Path | None:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _SKIP_DIRS]
        for name in files:
            path = Path(directory) / name
            if path.suffix not in _SOURCE_SUFFIXES and not name.startswith(".env"):
                continue
            try:
                if path in skip or path.stat().st_size > _MAX_SOURCE_BYTES:
                    continue
                if secret in path.read_text(encoding="utf-8", errors="ignore"):
                    return path
            except OSError:
                continue
    return None


def secret_key_not_default(ctx: Context) -> Outcome:
    key = str(settings.SECRET_KEY)
    lowered = key.lower()
    if any(lowered.startswith(p) for p in _PLACEHOLDER_KEYS) or len(set(key)) < 5:
        return Outcome(Status.FAIL, "SECRET_KEY is a placeholder or default value")
    if len(key) < 50:
        return Outcome(Status.FAIL, f"SECRET_KEY is {len(key)} characters; use at least 50")
    root = Path(settings.BASE_DIR)
    data_dir = Path(settings.DATA_DIR)
    committed = _committed_in(root, key, skip={data_dir / "secret_key"})
    if committed is not None:
        return Outcome(
            Status.FAIL, f"SECRET_KEY appears in {committed.relative_to(root)}: rotate it"
        )
    return Outcome(
        Status.PASS,
        f"SECRET_KEY is {len(key)} characters, not a known default, and in no project file",
    )


def api_key_age(ctx: Context) -> Outcome:
    endpoint = facts.mcp_endpoint()
    if endpoint is None:
        return Outcome(
            Status.UNKNOWN, "The MCP endpoint has not registered itself: its API keys are unknown"
        )
    maximum = settings.API_KEY_MAX_AGE_DAYS
    keys = endpoint.api_key_ages(ctx.now, ctx.now - timedelta(days=maximum))
    if keys.older:
        return Outcome(
            Status.FAIL,
            f"{len(keys.older)} active key(s) older than API_KEY_MAX_AGE_DAYS={maximum}: "
            + ", ".join(keys.older)
            + " (rotate, then revoke_api_keys --prefix)",
        )
    return Outcome(Status.PASS, f"{keys.active} active key(s), none older than {maximum} days")


# --- Monitoring ---------------------------------------------------------------------------------


def _writes_json_lines(formatter: logging.Formatter | None) -> bool:
    """Whether ``formatter`` writes a security event as one JSON object with the event's fields
    (what a CloudWatch metric filter matches on): asked by formatting a sample event, so any
    formatter that does the job counts, whichever module defines it."""
    if formatter is None:
        return False  # the handler falls back to logging's plain "%(message)s"
    record = logging.LogRecord("security", logging.WARNING, __file__, 0, _SAMPLE_EVENT, None, None)
    record.security = {"event": _SAMPLE_EVENT}
    try:
        line = formatter.format(record)
        parsed = json.loads(line)
    except Exception:  # a formatter that cannot format the sample does not write JSON lines
        return False
    return "\n" not in line and isinstance(parsed, dict) and parsed.get("event") == _SAMPLE_EVENT


def structured_security_logs(ctx: Context) -> Outcome:
    logger = logging.getLogger("security")
    json_handlers = [h for h in logger.handlers if _writes_json_lines(h.formatter)]
    if not json_handlers:
        return Outcome(Status.FAIL, "The 'security' logger has no handler with the JSON formatter")
    if not logger.isEnabledFor(logging.WARNING):
        return Outcome(Status.FAIL, "The 'security' logger drops WARNING events")
    names = ", ".join(type(h).__name__ for h in json_handlers)
    return Outcome(
        Status.PASS,
        f"Security events as JSON lines through {names} (level "
        f"{logging.getLevelName(logger.getEffectiveLevel())})",
    )
