"""Hostile bytes against PostgreSQL: text from AWS that PostgreSQL cannot store as given, and
direct SQL against the audit log.

PostgreSQL refuses what SQLite keeps: a NUL character in ``text`` and ``jsonb``, and a lone UTF-16
surrogate (text that is not valid UTF-8) in anything. Tag keys, tag values and names come from
whoever can tag a resource in a scanned account, so a scan must store them safely (or leave the
one resource out, said so) without failing, and the pages must show what was stored. The audit
log's trigger must refuse rewriting and deleting rows through plain SQL, including the ways an
intruder with a database session would try to make old rows look prunable.

Runs on PostgreSQL only (``make test-postgres``); SQLite keeps both kinds of text as they are
and has no delete trigger (see compliance/migrations/0002_audit_append_only.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.test import Client

from compliance import scans
from compliance.aws.base import DiscoveredResource, JobOutcome, ResourceBatch, ScanPlan
from compliance.models import AuditEvent, Resource, Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY
from tests.conftest import grant

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="PostgreSQL's own refusals (NUL, invalid UTF-8, the delete trigger)",
    ),
]

ACCOUNT = "123456789012"
REGION = "us-east-1"
NUL = "\x00"
SURROGATE = "\ud800"


@pytest.fixture
def account() -> Any:
    operator = Operator()
    registered = do_add_account(account_id=ACCOUNT, name="prod", regions=[REGION], acting=operator)
    do_import_policy(TEST_POLICY, acting=operator)
    return registered


@pytest.fixture
def analyst(account: Any) -> Client:
    user = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(user, Role.ANALYST)
    grant(user, account)
    client = Client()
    client.force_login(user)
    return client


def _scan(resource_type: str = "ec2:instance") -> Scan:
    scan = do_request_scan(acting=Operator(), resource_types=[resource_type])
    return scans.execute_scan(scan.pk)


# --- text from AWS ----------------------------------------------------------------------------


@pytest.fixture
def table_with_nul_tags(mocked_aws: None, account: Any) -> str:
    """A DynamoDB table tagged, through the DynamoDB API (moto), with NUL characters in a key,
    a value and its Name. (The EC2 API cannot carry them: its answers are XML.)"""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    created = dynamodb.create_table(
        TableName="nul-tagged",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[
            {"Key": "Name", "Value": f"web{NUL}01"},
            {"Key": f"Own{NUL}er", "Value": "ann@example.com"},
            {"Key": "Environment", "Value": f"prod{NUL}uction"},
        ],
    )
    return str(created["TableDescription"]["TableArn"])


def test_a_scan_of_tags_with_nul_characters_completes(table_with_nul_tags: str) -> None:
    scan = _scan("dynamodb:table")
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    stored = Resource.objects.get(arn=table_with_nul_tags)
    # Each NUL kept visibly, as its marker: nothing dropped, nothing merged.
    assert stored.tags == {
        "Name": "web⟨U+0000⟩01",
        "Own⟨U+0000⟩er": "ann@example.com",
        "Environment": "prod⟨U+0000⟩uction",
    }


def test_the_resource_page_shows_tags_that_had_nul_characters(
    table_with_nul_tags: str, analyst: Client
) -> None:
    _scan("dynamodb:table")
    stored = Resource.objects.get(arn=table_with_nul_tags)
    response = analyst.get(f"/resources/{stored.pk}/")
    assert response.status_code == 200
    assert "ann@example.com" in response.content.decode()
    assert "U+0000" in response.content.decode()


def _inventory(resources: list[DiscoveredResource]) -> Any:
    """A collector that finds exactly ``resources``: text with lone surrogates cannot be sent
    through botocore (it encodes every request as UTF-8), so it is handed to the scan's storage
    as a collector would."""

    def collect(targets: Any, **_: Any) -> Iterator[Any]:
        yield ScanPlan(account_id=ACCOUNT, regions=(REGION,), jobs=1)
        yield ResourceBatch(resources)
        yield JobOutcome(ACCOUNT, REGION, "ec2:instance", "ok", len(resources))

    return collect


SURROGATE_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
PLAIN_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0fedcba9876543210"


@pytest.fixture
def surrogate_inventory(account: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = [
        DiscoveredResource(
            arn=SURROGATE_ARN,
            resource_type="ec2:instance",
            account_id=ACCOUNT,
            region=REGION,
            name=f"web{SURROGATE}01",
            tags={f"Own{SURROGATE}er": "ann@example.com", "Environment": f"prod{SURROGATE}"},
        ),
        DiscoveredResource(
            arn=PLAIN_ARN,
            resource_type="ec2:instance",
            account_id=ACCOUNT,
            region=REGION,
            name="plain",
            tags={"Owner": "bob@example.com"},
        ),
    ]
    monkeypatch.setattr(scans, "collect_inventory", _inventory(resources))


def test_a_scan_of_tags_with_lone_surrogates_completes(surrogate_inventory: None) -> None:
    scan = _scan()
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    assert Resource.objects.get(arn=PLAIN_ARN).tags == {"Owner": "bob@example.com"}
    stored = Resource.objects.get(arn=SURROGATE_ARN)
    assert stored.tags == {"Own⟨U+D800⟩er": "ann@example.com", "Environment": "prod⟨U+D800⟩"}
    assert stored.name == "web⟨U+D800⟩01"


def test_the_pages_show_tags_that_had_lone_surrogates(
    surrogate_inventory: None, analyst: Client
) -> None:
    _scan()
    stored = Resource.objects.get(arn=SURROGATE_ARN)
    assert analyst.get(f"/resources/{stored.pk}/").status_code == 200
    listing = analyst.get("/resources/")
    assert listing.status_code == 200
    assert b"bob@example.com" in analyst.get("/resources/export.csv").getvalue()


# --- the audit log under direct SQL ------------------------------------------------------------


@pytest.fixture
def events() -> list[int]:
    return [
        AuditEvent.objects.create(event_type="scan.requested", actor_label="cli", target=t).pk
        for t in ("first", "second", "third")
    ]


def _targets() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("target", flat=True))


def _refused(sql: str, params: list[Any] | None = None) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params or [])


def test_a_bulk_update_of_the_audit_log_is_refused(events: list[int]) -> None:
    _refused("UPDATE compliance_auditevent SET outcome = 'success', target = 'rewritten'")
    assert _targets() == ["first", "second", "third"]


def test_a_bulk_delete_of_the_audit_log_is_refused(events: list[int]) -> None:
    _refused("DELETE FROM compliance_auditevent")
    assert _targets() == ["first", "second", "third"]


def test_backdating_a_row_to_make_it_prunable_is_refused(events: list[int]) -> None:
    _refused(
        "UPDATE compliance_auditevent SET occurred_at = occurred_at - interval '10 years' "
        "WHERE id = %s",
        [events[0]],
    )
    assert AuditEvent.objects.filter(pk=events[0]).exists()


def test_the_prune_switch_does_not_allow_updates(events: list[int]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('finops.audit_prune', 'on', true), "
            "set_config('finops.audit_prune_before', '2999-01-01T00:00:00+00:00', true)"
        )
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
        ):
            cursor.execute("UPDATE compliance_auditevent SET target = 'rewritten'")
    assert _targets() == ["first", "second", "third"]
