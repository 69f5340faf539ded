"""The user admin, bounded by the roles: an admin assigns roles, audited; only a superuser
makes a superuser or grants single permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from compliance.models import AuditEvent
from compliance.permissions.roles import Role, assign_role, role_of
from tests.conftest import sign_in_with_mfa

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-password-1"


@pytest.fixture
def ada() -> User:
    """An admin (the role, not a superuser)."""
    user = User.objects.create_user("ada", "ada@example.com", PASSWORD)
    assign_role(user, Role.ADMIN)
    return user


def _change(client: Client, user: User, **fields: object) -> int:
    data = {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **fields,
    }
    return client.post(f"/admin/auth/user/{user.pk}/change/", data).status_code


def test_an_admin_gives_a_role_and_it_is_applied_and_audited(ada: User) -> None:
    vic = User.objects.create_user("vic", "vic@example.com", PASSWORD)
    client = Client()
    sign_in_with_mfa(client, ada, PASSWORD)
    analyst = Group.objects.get(name=Role.ANALYST.value)
    assert _change(client, vic, groups=[analyst.pk]) == 302
    assert role_of(vic) is Role.ANALYST
    event = AuditEvent.objects.get(event_type="auth.role_changed")
    assert (event.actor_label, event.target, event.interface) == ("ada", "vic", "admin")
    assert (event.detail["from"], event.detail["to"]) == (None, "analyst")


def test_an_admin_cannot_make_a_superuser_or_grant_single_permissions(ada: User) -> None:
    vic = User.objects.create_user("vic", "vic@example.com", PASSWORD)
    client = Client()
    sign_in_with_mfa(client, ada, PASSWORD)
    prune = Permission.objects.get(codename="delete_scan")
    _change(client, vic, is_superuser="on", is_staff="on", user_permissions=[prune.pk])
    vic.refresh_from_db()
    assert (vic.is_superuser, vic.is_staff) == (False, False)
    assert not vic.user_permissions.exists()
    _change(client, ada, is_superuser="on")
    ada.refresh_from_db()
    assert ada.is_superuser is False


def test_an_admin_may_only_pick_role_groups(ada: User) -> None:
    extra = Group.objects.create(name="powerful")
    extra.permissions.add(Permission.objects.get(codename="delete_scan"))
    vic = User.objects.create_user("vic", "vic@example.com", PASSWORD)
    client = Client()
    sign_in_with_mfa(client, ada, PASSWORD)
    page = client.get(f"/admin/auth/user/{vic.pk}/change/").content.decode()
    assert "powerful" not in page
    assert _change(client, vic, groups=[extra.pk]) == 200  # refused by the form: not a choice
    assert not vic.groups.exists()


def test_an_administrator_already_in_is_sent_to_the_index_not_refused(ada: User) -> None:
    client = Client()
    sign_in_with_mfa(client, ada, PASSWORD)
    response = client.get("/admin/login/", {"next": "/admin/"})
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert not AuditEvent.objects.filter(event_type="auth.admin_refused").exists()
