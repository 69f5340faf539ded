"""The proxy configuration item: who may say what the client's address and scheme are.

Forwarded headers are believed only from ``TRUSTED_PROXY_CIDRS``; each combination below was a
real way to get this wrong: a proxy's HTTPS not recognised (every request redirected again,
forever), HTTPS claimed by any client, a redirect to an HTTPS port nothing serves, or the ASGI
server told to trust other peers than the application does.
"""

from __future__ import annotations

import os

from django.conf import settings

from compliance.checklist.base import Context, Outcome, Status

#: What a TLS-terminating proxy sets, and the only header the settings ever name.
PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
#: Drops forwarded headers of untrusted peers; must run before SecurityMiddleware reads them.
HEADER_FILTER = "compliance.web.middleware.ForwardedHeadersFromTrustedProxiesOnly"
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"


def _problems() -> list[str]:
    networks = list(settings.TRUSTED_PROXY_CIDRS)
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    problems = []
    if "FORWARDED_ALLOW_IPS" in os.environ:
        problems.append(
            f"FORWARDED_ALLOW_IPS={os.environ['FORWARDED_ALLOW_IPS']!r} is set: an ASGI server "
            "started without gunicorn.conf.py believes forwarded headers from those peers, "
            "not from TRUSTED_PROXY_CIDRS"
        )
    everyone = [str(n) for n in networks if n.prefixlen == 0]
    if everyone:
        problems.append(
            f"TRUSTED_PROXY_CIDRS contains {', '.join(everyone)}: any client can claim an "
            "address or HTTPS"
        )
    if networks and tuple(proxy_header or ()) != PROXY_SSL_HEADER:
        problems.append(
            "proxies are trusted but SECURE_PROXY_SSL_HEADER is not X-Forwarded-Proto: https: "
            "HTTPS requests from the proxy are redirected to HTTPS again, in a loop"
        )
    if not networks and proxy_header:
        problems.append(
            "SECURE_PROXY_SSL_HEADER is set with no trusted proxy: a client could claim HTTPS"
        )
    if settings.SECURE_SSL_REDIRECT and not networks and not settings.SERVER_TLS_CERT_FILE:
        problems.append(
            "SECURE_SSL_REDIRECT is on but neither a trusted proxy (TRUSTED_PROXY_CIDRS) nor the "
            "server (SERVER_TLS_CERT_FILE) terminates TLS: every page redirects to nothing"
        )
    middleware = list(settings.MIDDLEWARE)
    if HEADER_FILTER not in middleware or (
        SECURITY_MIDDLEWARE in middleware
        and middleware.index(HEADER_FILTER) > middleware.index(SECURITY_MIDDLEWARE)
    ):
        problems.append(f"{HEADER_FILTER} is not in MIDDLEWARE before {SECURITY_MIDDLEWARE}")
    return problems


def proxy_configuration(ctx: Context) -> Outcome:
    problems = _problems()
    if problems:
        return Outcome(Status.FAIL, "; ".join(problems))
    networks = ", ".join(str(n) for n in settings.TRUSTED_PROXY_CIDRS)
    if networks:
        return Outcome(
            Status.PASS,
            f"Forwarded headers believed only from {networks} (the ASGI server's "
            "forwarded_allow_ips derived from it); HTTPS recognised from X-Forwarded-Proto of "
            "those proxies only",
        )
    tls = (
        "gunicorn terminates TLS (SERVER_TLS_CERT_FILE)"
        if settings.SERVER_TLS_CERT_FILE
        else "plain HTTP asked for (ALLOW_PLAIN_HTTP)"
        if settings.ALLOW_PLAIN_HTTP
        else "no HTTPS redirect"
    )
    return Outcome(
        Status.PASS,
        f"No proxy trusted: forwarded headers are ignored from every peer; {tls}",
    )
