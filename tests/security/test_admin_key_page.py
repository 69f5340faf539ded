"""The admin's page of one API key: it shows the key, never its hash, and cannot edit it."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from compliance.models import AuditEvent
from compliance.permissions.accounts import Operator
from compliance.writes.keys import do_create_api_key
from mcp_endpoint.models import ApiKey


def _key(owner: User) -> ApiKey:
    key, _raw = do_create_api_key(user=owner, name="laptop", acting=Operator())
    return key


def test_the_change_page_of_a_key_renders_for_an_admin(admin_client: Client, alice: User) -> None:
    key = _key(alice)
    response = admin_client.get(f"/admin/mcp_endpoint/apikey/{key.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert key.prefix in page
    assert "laptop" in page
    assert key.key_hash not in page
    assert 'name="_save"' not in page  # read-only: nothing to submit


def test_posting_the_change_page_changes_nothing_and_is_audited(
    admin_client: Client, alice: User
) -> None:
    key = _key(alice)
    before = ApiKey.objects.values().get(pk=key.pk)
    response = admin_client.post(
        f"/admin/mcp_endpoint/apikey/{key.pk}/change/",
        {"name": "renamed", "key_hash": "0" * 64, "prefix": "ftc_aaaaaaaa", "user": alice.pk},
    )
    assert response.status_code == 403
    assert ApiKey.objects.values().get(pk=key.pk) == before
    event = AuditEvent.objects.latest("id")
    assert (event.event_type, event.outcome, event.target, event.actor) == (
        "request.forbidden",
        "denied",
        f"/admin/mcp_endpoint/apikey/{key.pk}/change/",
        User.objects.get(username="admin"),
    )


def test_the_add_page_still_offers_the_creation_form(admin_client: Client) -> None:
    response = admin_client.get("/admin/mcp_endpoint/apikey/add/")
    assert response.status_code == 200
    assert 'name="expires_in_days"' in response.content.decode()
