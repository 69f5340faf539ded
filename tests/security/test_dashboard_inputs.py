"""The bad-input corpus, dashboard side: query strings, forms and sign-in.

Each case: never a 5xx or a leaked trace, nothing reflected unescaped, no state change, never
another account's data; refusals (4xx) that concern security are audited.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from compliance.audit.events import EventType
from compliance.models import AwsAccount, Resource, Scan
from compliance.permissions import roles
from tests.compliance.billing.bills import I_CCC, A, build_estate
from tests.conftest import grant
from tests.security.conftest import Snapshot, assert_no_leak, assert_refusal_audited

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
NASTY = [
    pytest.param("' OR 1=1 --", id="sql_quote"),
    pytest.param('"; DROP TABLE compliance_resource; --', id="sql_drop"),
    pytest.param(SCRIPT, id="script"),
    pytest.param("../../../../etc/passwd", id="traversal"),
    pytest.param("\x00", id="nul"),
    pytest.param("a" * 5000, id="very_long"),
    pytest.param("\u202eevil\u202c", id="rtl_override"),
    pytest.param("💸🏷️", id="emoji"),
    pytest.param('{"$gt": ""}', id="json_operator"),
    pytest.param("-1", id="negative"),
    pytest.param("99999999999999999999999", id="huge_number"),
    pytest.param("%00%2e%2e", id="percent_encoded"),
    pytest.param("222222222222", id="other_account_id"),
    pytest.param(I_CCC, id="other_account_arn"),
]
RESOURCE_PARAMETERS = [
    "account",
    "region",
    "type",
    "tag_key",
    "tag_value",
    "compliance",
    "violation_type",
    "q",
    "sort",
    "page",
]


@pytest.fixture
def analyst(client: Client) -> Client:
    """An analyst granted account A only, of the two accounts of the billing fixtures."""
    build_estate()
    user = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    roles.assign_role(user, roles.Role.ANALYST)
    grant(user, AwsAccount.objects.get(account_id=A))
    client.force_login(user)
    return client


def _assert_clean(body: str) -> None:
    assert_no_leak(body)
    assert SCRIPT not in body
    # Account B's resource is never listed or linked (the input itself may be echoed, escaped).
    other = Resource.objects.filter(arn=I_CCC).first()
    if other is not None:
        assert f"/resources/{other.pk}/" not in body
    assert "i-0ccc</" not in body


@pytest.mark.parametrize("parameter", RESOURCE_PARAMETERS)
@pytest.mark.parametrize("value", NASTY)
def test_resource_filters_take_any_value_cleanly(
    analyst: Client, parameter: str, value: str
) -> None:
    before = Snapshot.take()
    response = analyst.get(f"/resources/?{urlencode({parameter: value})}")
    assert response.status_code in {200, 400}
    _assert_clean(response.content.decode())
    before.assert_unchanged()


@pytest.mark.parametrize("parameter", ["account", "region", "type", "compliance", "sort"])
@pytest.mark.parametrize("value", NASTY)
def test_exports_take_any_filter_cleanly_and_audit_refusals(
    analyst: Client, parameter: str, value: str
) -> None:
    before = Snapshot.take()
    response = analyst.get(f"/resources/export.csv?{urlencode({parameter: value})}")
    assert response.status_code in {200, 400}
    if response.streaming:
        _assert_clean(b"".join(response.streaming_content).decode())  # type: ignore[attr-defined]
    else:
        # A refusal is plain text, never rendered as a page, so the input may be quoted as is.
        assert response["Content-Type"].startswith("text/plain")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert_no_leak(response.content.decode())
    events = before.new_audit_events()
    if response.status_code == 400:
        assert_refusal_audited(events, {"export.resources", EventType.REQUEST_REFUSED})
    else:
        assert [e.event_type for e in events] == ["export.resources"]


@pytest.mark.parametrize("parameter", ["account", "region", "type", "violation_type", "tag"])
@pytest.mark.parametrize("value", NASTY[:8])
def test_violation_filters_take_any_value_cleanly(
    analyst: Client, parameter: str, value: str
) -> None:
    before = Snapshot.take()
    response = analyst.get(f"/violations/?{urlencode({parameter: value})}")
    assert response.status_code in {200, 400}
    _assert_clean(response.content.decode())
    before.assert_unchanged()


@pytest.mark.parametrize("value", NASTY)
def test_costs_period_takes_any_value_cleanly(analyst: Client, value: str) -> None:
    response = analyst.get(f"/costs/?{urlencode({'period': value})}")
    assert response.status_code in {200, 400}
    _assert_clean(response.content.decode())


@pytest.mark.parametrize("side", ["from", "to"])
@pytest.mark.parametrize("value", NASTY[:10])
def test_policy_diff_refuses_bad_versions_with_a_400(
    analyst: Client, side: str, value: str
) -> None:
    response = analyst.get(f"/policy/diff?{urlencode({side: value})}")
    assert response.status_code == 400
    _assert_clean(response.content.decode())


@pytest.mark.parametrize("value", NASTY[:6])
def test_policy_download_refuses_unknown_exports(analyst: Client, value: str) -> None:
    response = analyst.get(f"/policy/?{urlencode({'download': value})}")
    assert response.status_code == 400
    _assert_clean(response.content.decode())


@pytest.mark.parametrize("path", ["/scans/999999/", "/scans/999999/progress", "/resources/999999/"])
def test_unknown_ids_are_not_found(analyst: Client, path: str) -> None:
    response = analyst.get(path)
    assert response.status_code == 404
    _assert_clean(response.content.decode())


def test_scan_start_without_a_csrf_token_is_refused_and_audited(analyst: Client) -> None:
    user = User.objects.get(username="alice")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    before = Snapshot.take()
    response = browser.post(reverse("compliance:scan_start"))
    assert response.status_code == 403
    refused = assert_refusal_audited(before.assert_unchanged(), {EventType.CSRF_FAILED})
    assert (refused.actor, refused.client_address) == (user, "127.0.0.1")
    assert not Scan.objects.filter(requested_by="alice").exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_scan_start_takes_only_post(analyst: Client, method: str) -> None:
    before = Snapshot.take()
    response = getattr(analyst, method)(reverse("compliance:scan_start"))
    assert response.status_code == 405
    before.assert_unchanged()


def test_a_viewer_cannot_start_scans_or_run_the_checklist(client: Client) -> None:
    build_estate()
    user = User.objects.create_user("vera", "vera@example.com", "vera-password-123")
    roles.assign_role(user, roles.Role.VIEWER)
    client.force_login(user)
    before = Snapshot.take()
    assert client.post(reverse("compliance:scan_start")).status_code == 403
    assert client.post(reverse("compliance:checklist")).status_code == 403
    assert client.get("/resources/export.csv").status_code == 403
    before.assert_unchanged()


@pytest.mark.parametrize("value", NASTY)
def test_sign_in_refuses_any_username_and_audits_it(client: Client, value: str) -> None:
    before = Snapshot.take()
    response = client.post("/accounts/login/", {"login": value, "password": value})
    assert response.status_code in {200, 400, 429}
    _assert_clean(response.content.decode())
    assert "_auth_user_id" not in client.session
    if value.replace("\x00", "") and len(value) <= 150:
        assert_refusal_audited(before.assert_unchanged(), {EventType.LOGIN_FAILED})


@pytest.mark.parametrize(
    "header",
    [
        {"HTTP_HOST": "evil.example.com"},
        {"HTTP_X_FORWARDED_HOST": "evil.example.com"},
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
    ],
    ids=["host", "forwarded_host", "forwarded_for"],
)
def test_spoofed_headers_earn_nothing_on_the_dashboard(
    client: Client, header: dict[str, str]
) -> None:
    response = client.get("/", **header)  # type: ignore[arg-type]
    assert response.status_code in {302, 400}
    if response.status_code == 302:
        assert response["Location"].startswith("/accounts/login/")


def test_a_nul_character_anywhere_is_refused_and_audited(analyst: Client) -> None:
    before = Snapshot.take()
    response = analyst.get("/violations/?region=eu%00west")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    refused = assert_refusal_audited(before.assert_unchanged(), {EventType.REQUEST_REFUSED})
    assert refused.actor == User.objects.get(username="alice")
    assert refused.detail == {"reason": "NUL character in the request", "method": "GET"}
