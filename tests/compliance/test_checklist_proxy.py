"""The checklist item for the proxy configuration (network.proxy_headers), in each state."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from compliance.checklist.base import Context, Status
from compliance.checklist.evaluation import ItemResult, default_session_for, evaluate_item
from compliance.checklist.items import ITEMS_BY_ID

ITEM = "network.proxy_headers"
PROXIES = [ipaddress.ip_network("10.0.0.0/16")]
PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
FILTER = "compliance.web.middleware.ForwardedHeadersFromTrustedProxiesOnly"


def check() -> ItemResult:
    ctx = Context(now=timezone.now(), session_for=default_session_for)
    return evaluate_item(ITEMS_BY_ID[ITEM], ctx)


def test_the_item_is_required_and_automatic() -> None:
    item = ITEMS_BY_ID[ITEM]
    assert (item.required, item.kind.value) == (True, "automatic")


@override_settings(TRUSTED_PROXY_CIDRS=[], SECURE_PROXY_SSL_HEADER=None, SECURE_SSL_REDIRECT=False)
def test_passes_with_no_proxy_trusted(db: None) -> None:
    result = check()
    assert result.status == Status.PASS
    assert "No proxy trusted: forwarded headers are ignored from every peer" in result.evidence


@override_settings(
    TRUSTED_PROXY_CIDRS=PROXIES, SECURE_PROXY_SSL_HEADER=PROXY_SSL_HEADER, SECURE_SSL_REDIRECT=True
)
def test_passes_behind_a_trusted_proxy_that_says_https(db: None) -> None:
    result = check()
    assert result.status == Status.PASS
    assert "Forwarded headers believed only from 10.0.0.0/16" in result.evidence


@override_settings(
    TRUSTED_PROXY_CIDRS=[],
    SECURE_PROXY_SSL_HEADER=None,
    SECURE_SSL_REDIRECT=True,
    SERVER_TLS_CERT_FILE="/etc/finops/tls/cert.pem",
)
def test_passes_when_the_server_terminates_tls_itself(db: None) -> None:
    result = check()
    assert result.status == Status.PASS
    assert "gunicorn terminates TLS (SERVER_TLS_CERT_FILE)" in result.evidence


@override_settings(TRUSTED_PROXY_CIDRS=[], SECURE_PROXY_SSL_HEADER=None, SECURE_SSL_REDIRECT=True)
def test_fails_when_https_is_required_but_nothing_terminates_tls(db: None) -> None:
    result = check()
    assert result.status == Status.FAIL
    assert "SECURE_SSL_REDIRECT is on but neither a trusted proxy" in result.evidence


@override_settings(TRUSTED_PROXY_CIDRS=PROXIES, SECURE_PROXY_SSL_HEADER=None)
def test_fails_when_proxies_are_trusted_without_the_proxy_ssl_header(db: None) -> None:
    result = check()
    assert result.status == Status.FAIL
    assert "redirected to HTTPS again, in a loop" in result.evidence


@override_settings(
    TRUSTED_PROXY_CIDRS=[], SECURE_PROXY_SSL_HEADER=PROXY_SSL_HEADER, SECURE_SSL_REDIRECT=False
)
def test_fails_when_the_proxy_ssl_header_is_believed_with_no_proxy(db: None) -> None:
    result = check()
    assert result.status == Status.FAIL
    assert "a client could claim HTTPS" in result.evidence


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_fails_when_every_address_is_a_trusted_proxy(db: None, everyone: str) -> None:
    networks = [*PROXIES, ipaddress.ip_network(everyone)]
    with override_settings(TRUSTED_PROXY_CIDRS=networks, SECURE_PROXY_SSL_HEADER=PROXY_SSL_HEADER):
        result = check()
    assert result.status == Status.FAIL
    assert f"TRUSTED_PROXY_CIDRS contains {everyone}" in result.evidence


@override_settings(TRUSTED_PROXY_CIDRS=[], SECURE_PROXY_SSL_HEADER=None, SECURE_SSL_REDIRECT=False)
def test_fails_when_the_asgi_server_is_given_its_own_trusted_peers(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    result = check()
    assert result.status == Status.FAIL
    assert "FORWARDED_ALLOW_IPS='127.0.0.1,::1' is set" in result.evidence


@pytest.mark.parametrize(
    "middleware",
    [
        pytest.param(lambda m: [x for x in m if x != FILTER], id="missing"),
        pytest.param(lambda m: [x for x in m if x != FILTER] + [FILTER], id="after-security"),
    ],
)
def test_fails_when_the_header_filter_does_not_run_first(
    db: None, middleware: Callable[[list[str]], list[str]]
) -> None:
    changed = middleware(list(settings.MIDDLEWARE))
    with override_settings(
        MIDDLEWARE=changed,
        TRUSTED_PROXY_CIDRS=[],
        SECURE_PROXY_SSL_HEADER=None,
        SECURE_SSL_REDIRECT=False,
    ):
        result = check()
    assert result.status == Status.FAIL
    assert f"{FILTER} is not in MIDDLEWARE before" in result.evidence
