"""Exemptions: each matcher leaves exactly its violations out of every figure, expiry needs no
write, creation and removal are audited, bad input changes nothing, grants are respected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from compliance import reads
from compliance.models import AuditEvent, ComplianceSnapshot, Exemption, Resource, Violation
from compliance.permissions.accounts import Operator
from compliance.reads import reports
from compliance.writes.accounts import do_add_account
from compliance.writes.exemptions import do_create_exemption, do_remove_exemption
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError
from tests.compliance.policies import TEST_POLICY
from tests.compliance.test_scans import ACCOUNT, Estate, estate, scan_now  # noqa: F401
from tests.conftest import grant, sign_in_with_mfa

pytestmark = pytest.mark.django_db

OTHER_ACCOUNT = "210987654321"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/bad-format-table"
BUCKET = "arn:aws:s3:::wrong-case-bucket"


def exempt(acting: Any = None, **matchers: str) -> Exemption:
    return do_create_exemption(
        reason="accepted by finance until the migration",
        owner="owner",
        expires_at=timezone.now() + timedelta(days=30),
        acting=acting or Operator(),
        **matchers,
    )


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", "owner@example.com", "owner-password-123")


@pytest.fixture
def scanned(estate: Estate, owner: User) -> Estate:  # noqa: F811
    scan_now()
    return estate


@pytest.fixture
def registered(owner: User) -> None:
    """The account, the policy and one resource, without scanning (enough to refuse input)."""
    operator = Operator()
    account = do_add_account(account_id=ACCOUNT, name="prod", acting=operator)
    do_import_policy(TEST_POLICY, acting=operator)
    now = timezone.now()
    Resource.objects.create(
        arn=TABLE,
        account=account,
        region="us-east-1",
        resource_type="dynamodb:table",
        first_seen_at=now,
        last_seen_at=now,
    )


def figures(now: Any = None) -> dict[str, Any]:
    """Every place a figure is shown, as one comparable dict."""
    summary = reads.compliance_summary(Operator(), now=now)
    report = reports.build_report(Operator(), now=now)
    by_type = {row.key: (row.compliant_resources, row.violations) for row in summary.by_type}
    return {
        "summary": (summary.compliant_resources, summary.violation_count),
        "report": (report["compliant_resources"], report["violation_count"]),
        "listed": len(report["violations"]),
        "by_tag": sum(summary.by_tag.values()),
        "by_violation_type": sum(summary.by_violation_type.values()),
        "by_region": sum(row.violations for row in summary.by_region),
        "by_account": [(r.compliant_resources, r.violations) for r in summary.by_account],
        "by_type": by_type,
        "exempted": summary.exempted_violation_count,
        "exempted_listed": sorted(
            (row["resource_arn"], row["tag_name"]) for row in report["exempted_violations"]
        ),
    }


def expected(
    compliant: int, violations: int, by_type: dict[str, tuple[int, int]], exempted: list[Any]
) -> dict[str, Any]:
    return {
        "summary": (compliant, violations),
        "report": (compliant, violations),
        "listed": violations,
        "by_tag": violations,
        "by_violation_type": violations,
        "by_region": violations,
        "by_account": [(compliant, violations)],
        "by_type": by_type,
        "exempted": len(exempted),
        "exempted_listed": sorted(exempted),
    }


NO_EXEMPTION = {
    "dynamodb:table": (0, 1),
    "ec2:instance": (1, 3),
    "s3:bucket": (0, 2),
    "sqs:queue": (1, 0),
}


def test_without_exemptions_the_figures_are_the_policys(scanned: Estate) -> None:
    assert figures() == expected(2, 6, NO_EXEMPTION, [])


@pytest.mark.parametrize(
    ("matchers", "compliant", "by_type", "exempted"),
    [
        pytest.param(
            {"resource_arn": "untagged"},
            3,
            {**NO_EXEMPTION, "ec2:instance": (2, 0)},
            [("untagged", "Environment"), ("untagged", "Owner"), ("untagged", "Project")],
            id="arn",
        ),
        pytest.param(
            {"resource_type": "s3:bucket"},
            3,
            {**NO_EXEMPTION, "s3:bucket": (1, 0)},
            [(BUCKET, "Environment"), (BUCKET, "Owner")],
            id="type",
        ),
        pytest.param(
            {"account_id": ACCOUNT},
            5,
            {
                "dynamodb:table": (1, 0),
                "ec2:instance": (2, 0),
                "s3:bucket": (1, 0),
                "sqs:queue": (1, 0),
            },
            [
                ("untagged", "Environment"),
                ("untagged", "Owner"),
                ("untagged", "Project"),
                (BUCKET, "Environment"),
                (BUCKET, "Owner"),
                (TABLE, "Owner"),
            ],
            id="account",
        ),
        pytest.param(
            {"tag_key": "Owner"},
            3,
            {**NO_EXEMPTION, "dynamodb:table": (1, 0), "ec2:instance": (1, 2), "s3:bucket": (0, 1)},
            [("untagged", "Owner"), (BUCKET, "Owner"), (TABLE, "Owner")],
            id="tag-key",
        ),
        pytest.param(
            {"resource_type": "ec2:instance", "tag_key": "Project"},
            2,
            {**NO_EXEMPTION, "ec2:instance": (1, 2)},
            [("untagged", "Project")],
            id="type-and-tag-key",
        ),
    ],
)
def test_an_exemption_leaves_exactly_its_violations_out_of_every_figure(
    scanned: Estate,
    matchers: dict[str, str],
    compliant: int,
    by_type: dict[str, tuple[int, int]],
    exempted: list[tuple[str, str]],
) -> None:
    untagged = scanned.arn(scanned.untagged_instance)
    matchers = {k: untagged if v == "untagged" else v for k, v in matchers.items()}
    exempted = [(untagged if arn == "untagged" else arn, tag) for arn, tag in exempted]
    exempt(**matchers)
    violations = 6 - len(exempted)

    assert figures() == expected(compliant, violations, by_type, exempted)

    # A scan finalised while the exemption is active counts the same in its totals and snapshot.
    scan = scan_now()
    assert (scan.compliant_resources, scan.violation_count) == (compliant, violations)
    account_row = ComplianceSnapshot.objects.get(scan=scan, dimension="account")
    assert (account_row.compliant, account_row.violations) == (compliant, violations)
    type_rows = {
        row.key: (row.compliant, row.violations)
        for row in ComplianceSnapshot.objects.filter(scan=scan, dimension="resource_type")
    }
    assert type_rows == by_type
    tag_violations = ComplianceSnapshot.objects.filter(scan=scan, dimension="tag_key")
    assert sum(row.violations for row in tag_violations) == violations


def test_the_scan_keeps_judging_by_the_policy_alone(scanned: Estate) -> None:
    exempt(account_id=ACCOUNT)
    scan_now()
    assert Violation.objects.count() == 6
    assert Violation.objects.filter(resource__arn=TABLE).get().resource.is_compliant is False


def test_an_expired_exemption_stops_applying_without_any_write(scanned: Estate) -> None:
    exemption = exempt(resource_type="s3:bucket")
    rows_before = (Violation.objects.count(), Exemption.objects.count())
    assert figures()["summary"] == (3, 4)

    later = exemption.expires_at + timedelta(seconds=1)
    assert figures(now=later) == expected(2, 6, NO_EXEMPTION, [])
    assert (Violation.objects.count(), Exemption.objects.count()) == rows_before
    assert not reads.exemptions(Operator(), now=later).exists()
    assert reads.exemptions(Operator(), now=later, include_expired=True).count() == 1


def test_an_exemption_stored_already_expired_does_not_apply(scanned: Estate, owner: User) -> None:
    Exemption.objects.create(
        resource_type="s3:bucket",
        reason="old",
        owner=owner,
        created_by="cli",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert figures() == expected(2, 6, NO_EXEMPTION, [])


def test_creating_and_removing_are_audited(scanned: Estate) -> None:
    exemption = exempt(tag_key="owner")
    assert exemption.tag_key == "Owner"  # spelled as the policy spells it
    created = AuditEvent.objects.get(event_type="exemption.created")
    assert (created.outcome, created.target) == ("success", f"exemption #{exemption.pk}")
    assert created.detail["tag_key"] == "Owner"
    assert created.detail["owner"] == "owner"

    do_remove_exemption(exemption.pk, acting=Operator())
    removed = AuditEvent.objects.get(event_type="exemption.removed")
    assert (removed.outcome, removed.target) == ("success", f"exemption #{exemption.pk}")
    assert removed.detail["reason"] == exemption.reason
    assert not Exemption.objects.exists()
    assert figures()["summary"] == (2, 6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "matcher: give at least one of"),
        ({"account_id": "999999999999"}, "account_id: '999999999999' is not registered"),
        ({"resource_type": "ec2:spaceship"}, "resource_type: unknown resource type"),
        ({"tag_key": "Colour"}, "tag_key: 'Colour' is not a required tag"),
        ({"resource_arn": "arn:aws:s3:::nowhere"}, "resource_arn: arn:aws:s3:::nowhere is not in"),
        ({"resource_arn": "not-an-arn"}, "resource_arn: 'not-an-arn' is not an ARN"),
        ({"account_id": ACCOUNT, "reason": " "}, "reason: say why"),
        ({"account_id": ACCOUNT, "owner": "nobody"}, "owner: no active user named 'nobody'"),
        ({"account_id": ACCOUNT, "expires_in": timedelta(days=-1)}, "expires_at: "),
        ({"account_id": ACCOUNT, "expires_in": timedelta(days=366)}, "expires_at: at most 365"),
    ],
)
def test_bad_input_is_refused_audited_and_changes_nothing(
    registered: None, changes: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "reason": "accepted",
        "owner": "owner",
        "expires_at": timezone.now() + changes.pop("expires_in", timedelta(days=10)),
        **changes,
    }
    with pytest.raises(ActionError, match=message):
        do_create_exemption(acting=Operator(), **arguments)
    refused = AuditEvent.objects.get(event_type="exemption.created")
    assert refused.outcome == "denied"
    assert message.split(":")[0] in refused.detail["error"]
    assert not Exemption.objects.exists()


def test_removing_an_unknown_exemption_is_refused_and_audited(registered: None) -> None:
    with pytest.raises(ActionError, match="exemption: #999 not found"):
        do_remove_exemption(999, acting=Operator())
    assert AuditEvent.objects.get(event_type="exemption.removed").outcome == "denied"


@pytest.fixture
def alice_exempter(alice: User, registered: None) -> User:
    """Alice may manage exemptions, and sees only the scanned account."""
    do_add_account(account_id=OTHER_ACCOUNT, name="other", acting=Operator())
    grant(alice, reads.scoped_accounts(Operator(), [ACCOUNT]).get())
    alice.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_exemption", "delete_exemption"])
    )
    return User.objects.get(pk=alice.pk)  # fresh permission cache


def test_a_viewer_exempts_only_within_the_accounts_they_see(alice_exempter: User) -> None:
    with pytest.raises(ActionError, match="not registered or not visible to you"):
        exempt(alice_exempter, account_id=OTHER_ACCOUNT)
    with pytest.raises(ActionError, match="applies to every account"):
        exempt(alice_exempter, resource_type="s3:bucket")
    mine = exempt(alice_exempter, resource_arn=TABLE)
    assert mine.account is not None
    assert mine.account.account_id == ACCOUNT
    assert Exemption.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="exemption.created", outcome="denied").count() == 2


def test_a_viewer_sees_and_removes_only_exemptions_of_their_accounts(
    alice_exempter: User,
) -> None:
    other = exempt(account_id=OTHER_ACCOUNT)
    estate_wide = exempt(resource_type="sqs:queue")
    mine = exempt(alice_exempter, account_id=ACCOUNT)
    shown = set(reads.exemptions(alice_exempter).values_list("pk", flat=True))
    assert shown == {mine.pk, estate_wide.pk}
    with pytest.raises(ActionError, match="not found or not visible"):
        do_remove_exemption(other.pk, acting=alice_exempter)
    with pytest.raises(ActionError, match="needs access to every account"):
        do_remove_exemption(estate_wide.pk, acting=alice_exempter)
    do_remove_exemption(mine.pk, acting=alice_exempter)
    assert set(Exemption.objects.values_list("pk", flat=True)) == {other.pk, estate_wide.pk}


def test_without_the_permission_nobody_exempts(bob: User, registered: None) -> None:
    with pytest.raises(ActionError, match=r"your role \(viewer\) may not exempt violations"):
        exempt(bob, resource_arn=TABLE)
    assert not Exemption.objects.exists()
    refusal = AuditEvent.objects.get(event_type="auth.permission_denied")
    assert (refusal.actor_label, refusal.detail["action"]) == ("bob", "create_exemption")


def test_exempted_violations_are_shown_apart_with_their_exemption(scanned: Estate) -> None:
    exemption = exempt(resource_arn=TABLE)
    report = reports.build_report(Operator())
    assert [row["resource_arn"] for row in report["exempted_violations"]] == [TABLE]
    assert report["exempted_violations"][0]["exemption"] == {
        "id": exemption.pk,
        "reason": exemption.reason,
        "owner": "owner",
        "expires_at": exemption.expires_at.isoformat(),
    }
    assert TABLE not in {row["resource_arn"] for row in report["violations"]}
    assert "Exempted violations (not counted): 1" in reports.render_markdown(report)


def test_admin_creates_lists_and_removes_through_the_actions(
    registered: None, superuser: User, client: Any
) -> None:
    sign_in_with_mfa(client, superuser, "root-password-123")
    account = reads.scoped_accounts(Operator(), [ACCOUNT]).get()
    expiry = timezone.localtime() + timedelta(days=20)
    form = {
        "resource_arn": "",
        "resource_type": "dynamodb:table",
        "account": account.pk,
        "tag_key": "",
        "reason": "reviewed in the FinOps meeting",
        "owner": User.objects.get(username="owner").pk,
        "expires_at_0": expiry.strftime("%Y-%m-%d"),
        "expires_at_1": expiry.strftime("%H:%M:%S"),
    }
    response = client.post("/admin/compliance/exemption/add/", form)
    assert response.status_code == 302
    exemption = Exemption.objects.get()
    assert (exemption.resource_type, exemption.created_by) == ("dynamodb:table", "root")
    assert AuditEvent.objects.get(event_type="exemption.created").interface == "admin"

    too_far = timezone.localtime() + timedelta(days=400)
    refused = client.post(
        "/admin/compliance/exemption/add/",
        {**form, "expires_at_0": too_far.strftime("%Y-%m-%d")},
    )
    assert refused.status_code == 200
    assert "expires_at: at most 365 days ahead" in refused.content.decode()
    assert Exemption.objects.count() == 1

    active = client.get("/admin/compliance/exemption/?status=active")
    assert "reviewed in the FinOps meeting" in active.content.decode()
    expired = client.get("/admin/compliance/exemption/?status=expired")
    assert "reviewed in the FinOps meeting" not in expired.content.decode()

    response = client.post(f"/admin/compliance/exemption/{exemption.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Exemption.objects.exists()
    assert AuditEvent.objects.get(event_type="exemption.removed").interface == "admin"
