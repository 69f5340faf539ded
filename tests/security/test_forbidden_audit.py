"""Every 403 the dashboard or the admin answers has exactly one audit row.

The rule set's refusals are audited where they are decided (``auth.permission_denied``), the
admin site's sign-in refusals too (``auth.admin_refused``); the 403 handler audits the rest
(``request.forbidden``) and never doubles the others.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from compliance.models import AuditEvent
from tests.conftest import sign_in_with_mfa


def _rows_after(last: int) -> list[tuple[str, str, str]]:
    return [
        (event.event_type, event.outcome, event.target)
        for event in AuditEvent.objects.filter(id__gt=last).order_by("id")
        if event.event_type not in {"auth.login", "auth.mfa_changed"}
    ]


def _last() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_viewer_on_an_admin_only_page_gets_one_row(client: Client, alice: User) -> None:
    client.force_login(alice)
    last = _last()
    response = client.get("/checklist/")
    assert response.status_code == 403
    assert _rows_after(last) == [("auth.permission_denied", "denied", "/checklist/")]


def test_a_viewer_posting_an_admin_only_form_gets_one_row(client: Client, alice: User) -> None:
    client.force_login(alice)
    last = _last()
    response = client.post("/checklist/")
    assert response.status_code == 403
    assert _rows_after(last) == [("auth.permission_denied", "denied", "/checklist/")]


def test_a_viewer_at_the_admin_gets_one_row(client: Client, alice: User) -> None:
    client.force_login(alice)
    last = _last()
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert _rows_after(last) == [("auth.admin_refused", "denied", "/admin/login/")]


def test_the_admins_own_permission_refusal_is_audited(client: Client, superuser: User) -> None:
    """Django's admin raises PermissionDenied itself: an audit row is read-only for everyone."""
    sign_in_with_mfa(client, superuser, "root-password-123")
    last = _last()
    response = client.post("/admin/compliance/auditevent/1/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert _rows_after(last) == [
        ("request.forbidden", "denied", "/admin/compliance/auditevent/1/delete/")
    ]
    event = AuditEvent.objects.latest("id")
    assert (event.actor, event.interface, event.detail["method"]) == (superuser, "web", "POST")


def test_staff_without_the_right_refused_incident_response_is_audited(
    client: Client, db: None
) -> None:
    """A staff account given no role (the admin lets one be made): in the admin, no rights."""
    staff = User.objects.create_user("dora", "dora@example.com", "dora-password-123", is_staff=True)
    sign_in_with_mfa(client, staff, "dora-password-123")
    last = _last()
    response = client.post("/admin/mcp_endpoint/apikey/revoke-all/")
    assert response.status_code == 403
    assert _rows_after(last) == [
        ("request.forbidden", "denied", "/admin/mcp_endpoint/apikey/revoke-all/")
    ]
    assert "Not allowed" in response.content.decode()
