"""The audit log is append-only: the ORM, the admin and the database all refuse to rewrite it."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from compliance import audit
from compliance.audit.events import EventType
from compliance.models import AuditEvent
from compliance.permissions.accounts import Operator
from tests.conftest import sign_in_with_mfa


@pytest.fixture
def event(db: None) -> AuditEvent:
    return audit.record(EventType.SCAN_REQUESTED, acting=Operator(), target="scan #1")


def test_record_keeps_actor_label_and_target(event: AuditEvent) -> None:
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_label, stored.target, stored.outcome) == ("cli", "scan #1", "success")


def test_saving_an_existing_event_is_refused(event: AuditEvent) -> None:
    event.target = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).target == "scan #1"


def test_deleting_an_event_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(target="x")


def test_raw_sql_update_is_refused_by_the_database(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE compliance_auditevent SET target = %s WHERE id = %s", ["x", event.pk]
        )
    assert AuditEvent.objects.get(pk=event.pk).target == "scan #1"


def test_admin_cannot_change_or_delete_audit_events(client, superuser, event: AuditEvent) -> None:
    sign_in_with_mfa(client, superuser, "root-password-123")
    change_url = f"/admin/compliance/auditevent/{event.pk}/change/"
    response = client.post(change_url, {"target": "rewritten"})
    assert response.status_code == 403
    delete_url = f"/admin/compliance/auditevent/{event.pk}/delete/"
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get("/admin/compliance/auditevent/").status_code == 200
    assert AuditEvent.objects.get(pk=event.pk).target == "scan #1"
