"""Scan pages: history, one scan's outcomes, its progress for the polling script, and "Scan
now", with what a scan read or failed to read shown for the user's accounts only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from compliance.audit.events import EventType
from compliance.models import AuditEvent, AwsAccount, Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.reads import scans as scan_reads
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError, NotPermitted
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY
from tests.compliance.views.conftest import signed_in
from tests.conftest import grant

pytestmark = pytest.mark.django_db

A, B = "111111111111", "222222222222"


def outcome(account: str, resource_type: str, count: int, error: str = "") -> dict[str, Any]:
    return {
        "account_id": account,
        "region": "us-east-1",
        "resource_type": resource_type,
        "status": "error" if error else "ok",
        "resource_count": count,
        "error_code": error,
        "error_message": f"not allowed in {account}" if error else "",
        "duration_ms": 40,
    }


@pytest.fixture
def accounts(db: None) -> dict[str, AwsAccount]:
    do_import_policy(TEST_POLICY, acting=Operator())
    return {
        A: AwsAccount.objects.create(account_id=A, name="prod"),
        B: AwsAccount.objects.create(account_id=B, name="data"),
    }


@pytest.fixture
def partial(accounts: dict[str, AwsAccount]) -> Scan:
    """A partial scan that read 3 resources in A and 7 in B, and failed once in each."""
    now = timezone.now()
    return Scan.objects.create(
        status=Scan.Status.PARTIAL,
        trigger="task",
        requested_by="charlie",
        account_ids=[A, B],
        created_at=now,
        started_at=now - timedelta(minutes=2, seconds=5),
        finished_at=now,
        progress_done=4,
        progress_total=4,
        outcomes=[
            outcome(A, "ec2:instance", 3),
            outcome(A, "s3:bucket", 0, "AccessDenied"),
            outcome(B, "ec2:instance", 7),
            outcome(B, "sqs:queue", 0, "UnauthorizedOperation"),
        ],
        errors=[f"{A} us-east-1 s3:bucket: AccessDenied", f"{B} us-east-1 sqs:queue: ..."],
    )


@pytest.fixture
def alice_on_a(alice: User, accounts: dict[str, AwsAccount]) -> User:
    grant(alice, accounts[A])
    return alice


# --- Scan history -------------------------------------------------------------------------------


def test_history_needs_a_role(bob: User) -> None:
    assert signed_in(bob, None).get("/scans/").status_code == 403


def test_history_without_scans_says_run_one(alice: User) -> None:
    response = signed_in(alice, Role.VIEWER).get("/scans/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No scan yet: run one" in html
    assert 'action="/scans/start"' not in html


def test_history_counts_resources_and_failures_in_the_viewers_accounts(
    alice_on_a: User, partial: Scan
) -> None:
    response = signed_in(alice_on_a, Role.VIEWER).get("/scans/")
    (row,) = response.context["listing"].rows
    assert (row.scan.pk, row.duration, row.resources_read, row.failed_jobs) == (
        partial.pk,
        "2 min 5 s",
        3,
        1,
    )
    html = response.content.decode()
    assert f'<a href="/scans/{partial.pk}/">#{partial.pk}</a>' in html
    assert '<span class="status status-partial">partial</span>' in html
    # Who asked is the requester's business and the admins': alice learns only that it was
    # somebody else.
    assert "charlie" not in html
    assert "<td>another user</td>" in html
    assert '<td class="num">3</td>' in html
    assert B not in html


def test_history_lists_only_the_scans_that_read_the_viewers_accounts(
    alice_on_a: User, partial: Scan
) -> None:
    of_b_only = Scan.objects.create(
        status=Scan.Status.COMPLETE, account_ids=[B], regions=["eu-west-3"]
    )
    of_every_account = Scan.objects.create(status=Scan.Status.COMPLETE)
    client = signed_in(alice_on_a, Role.VIEWER)
    rows = client.get("/scans/").context["listing"].rows
    assert [row.scan.pk for row in rows] == [of_every_account.pk, partial.pk]
    assert client.get(f"/scans/{of_b_only.pk}/").status_code == 404
    assert client.get(f"/scans/{of_b_only.pk}/progress").status_code == 404


def test_a_scan_page_shows_a_narrower_viewer_only_the_regions_of_their_accounts(
    alice_on_a: User, accounts: dict[str, AwsAccount]
) -> None:
    scan = Scan.objects.create(
        status=Scan.Status.COMPLETE,
        requested_by="alice",
        account_ids=[A, B],
        regions=["us-east-1", "ap-south-1"],
        outcomes=[
            outcome(A, "ec2:instance", 1),
            {**outcome(B, "ec2:instance", 1), "region": "ap-south-1"},
        ],
    )
    html = signed_in(alice_on_a, Role.VIEWER).get(f"/scans/{scan.pk}/").content.decode()
    assert "<dd>us-east-1</dd>" in html
    assert "ap-south-1" not in html
    assert "<dt>Requested by</dt><dd>alice</dd>" in html


def test_history_of_an_admin_counts_every_account(charlie: User, partial: Scan) -> None:
    response = signed_in(charlie, Role.ADMIN).get("/scans/")
    (row,) = response.context["listing"].rows
    assert (row.resources_read, row.failed_jobs) == (10, 2)
    assert 'action="/scans/start"' in response.content.decode()


def test_history_is_paged_newest_first(alice_on_a: User) -> None:
    scans = [Scan.objects.create(status=Scan.Status.QUEUED) for _ in range(26)]
    client = signed_in(alice_on_a, Role.VIEWER)
    first = client.get("/scans/")
    assert [r.scan.pk for r in first.context["listing"].rows] == [s.pk for s in scans[:0:-1]]
    assert 'href="?page=2" rel="next"' in first.content.decode()
    second = client.get("/scans/?page=2")
    assert [r.scan.pk for r in second.context["listing"].rows] == [scans[0].pk]
    assert 'href="?page=1" rel="prev"' in second.content.decode()
    beyond = client.get("/scans/?page=9")
    assert beyond.status_code == 200
    assert "No scans on page 9" in beyond.content.decode()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "99999999999", "٣"])
def test_a_bad_page_number_gets_a_clear_message(alice: User, value: str) -> None:
    response = signed_in(alice, Role.VIEWER).get("/scans/", {"page": value})
    assert response.status_code == 400
    assert "page: a whole number from 1 up" in response.content.decode()


# --- One scan -----------------------------------------------------------------------------------


def test_scan_page_lists_outcomes_and_failures_of_the_viewers_accounts(
    alice_on_a: User, partial: Scan
) -> None:
    response = signed_in(alice_on_a, Role.VIEWER).get(f"/scans/{partial.pk}/")
    assert response.status_code == 200
    detail = response.context["detail"]
    assert detail.failed == [f"{A} us-east-1 s3:bucket: AccessDenied not allowed in {A}"]
    assert [
        (o.account_id, o.resource_type, o.status, o.resource_count) for o in detail.outcomes
    ] == [
        (A, "s3:bucket", "error", 0),
        (A, "ec2:instance", "ok", 3),
    ]
    assert (detail.accounts, detail.resources_read) == ([A], 3)
    html = response.content.decode()
    assert f"<li>{A} us-east-1 s3:bucket: AccessDenied not allowed in {A}</li>" in html
    assert "<dt>Duration</dt><dd>2 min 5 s</dd>" in html
    assert B not in html
    assert "UnauthorizedOperation" not in html
    # A finished scan needs no polling.
    assert "scan_progress.js" not in html


def test_scan_page_counts_the_aws_requests_of_the_viewers_accounts(
    alice_on_a: User, accounts: dict[str, AwsAccount]
) -> None:
    scan = Scan.objects.create(
        status=Scan.Status.COMPLETE,
        account_ids=[A, B],
        aws_requests=40,
        throttled_requests=4,
        outcomes=[
            outcome(A, "ec2:instance", 3) | {"requests": 5, "throttled": 1},
            outcome(A, "sqs:queue", 3) | {"requests": 2, "throttled": 0},
            outcome(B, "ec2:instance", 7) | {"requests": 30, "throttled": 3},
        ],
    )
    response = signed_in(alice_on_a, Role.VIEWER).get(f"/scans/{scan.pk}/")
    detail = response.context["detail"]
    assert (detail.aws_requests, detail.throttled_requests) == (7, 1)
    assert "<dd>7, 1 throttled and retried</dd>" in response.content.decode()


def test_a_running_scan_page_polls_its_progress(alice_on_a: User) -> None:
    scan = Scan.objects.create(
        status=Scan.Status.RUNNING, started_at=timezone.now(), progress_done=1, progress_total=3
    )
    html = signed_in(alice_on_a, Role.VIEWER).get(f"/scans/{scan.pk}/").content.decode()
    assert f'data-progress-url="/scans/{scan.pk}/progress"' in html
    assert '<strong class="status status-running" data-scan-status>running</strong>' in html
    assert 'max="3" value="1"' in html
    assert "1 of 3 jobs done" in html
    assert 'aria-live="polite"' in html
    assert f'<a href="/scans/{scan.pk}/">Reload</a>' in html
    assert '<script src="/static/js/scan_progress.js" defer></script>' in html


def test_an_unknown_scan_is_404(alice: User) -> None:
    assert signed_in(alice, Role.VIEWER).get("/scans/999/").status_code == 404


def test_progress_answers_json_for_the_polling_script(alice_on_a: User, partial: Scan) -> None:
    client = signed_in(alice_on_a, Role.VIEWER)
    body = client.get(f"/scans/{partial.pk}/progress").json()
    assert partial.finished_at is not None
    assert body == {
        "id": partial.pk,
        "status": "partial",
        "progress_done": 4,
        "progress_total": 4,
        "finished_at": partial.finished_at.isoformat(),
        "data_quality": "partial",
    }
    missing = client.get("/scans/999/progress")
    assert (missing.status_code, missing.json()) == (404, {"error": "scan #999 not found"})


def test_progress_needs_a_role(bob: User, partial: Scan) -> None:
    assert signed_in(bob, None).get(f"/scans/{partial.pk}/progress").status_code == 403


# --- Scan now -----------------------------------------------------------------------------------


def test_scan_now_refuses_get(alice: User) -> None:
    assert signed_in(alice, Role.ANALYST).get("/scans/start").status_code == 405


def test_a_viewer_may_not_start_a_scan(alice_on_a: User) -> None:
    response = signed_in(alice_on_a, Role.VIEWER).post("/scans/start")
    assert response.status_code == 403
    assert not Scan.objects.exists()


def test_scan_now_without_the_csrf_token_is_refused(alice_on_a: User) -> None:
    client = signed_in(alice_on_a, Role.ANALYST, enforce_csrf_checks=True)
    assert client.post("/scans/start").status_code == 403
    assert not Scan.objects.exists()


def test_an_analyst_scans_exactly_their_accounts_and_follows_it(alice_on_a: User) -> None:
    client = signed_in(alice_on_a, Role.ANALYST)
    response = client.post("/scans/start")
    scan = Scan.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/scans/{scan.pk}/")
    assert (scan.status, scan.account_ids, scan.trigger, scan.requested_by) == (
        "queued",
        [A],
        "task",
        "alice",
    )
    assert scan.task_id
    event = AuditEvent.objects.get(event_type=EventType.SCAN_REQUESTED)
    assert (event.outcome, event.interface, event.actor_label) == ("success", "web", "alice")
    followed = client.get(response["Location"]).content.decode()
    assert f"Scan #{scan.pk} queued" in followed
    assert "data-progress-url" in followed


def test_an_admin_who_sees_every_account_scans_every_account(
    charlie: User, accounts: dict[str, AwsAccount]
) -> None:
    signed_in(charlie, Role.ADMIN).post("/scans/start")
    assert Scan.objects.get().account_ids == []


def test_an_analyst_without_accounts_gets_a_message_not_a_scan(
    bob: User, accounts: dict[str, AwsAccount]
) -> None:
    client = signed_in(bob, Role.ANALYST)
    response = client.post("/scans/start", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/scans/", 302)]
    assert "The scan was not started: account: you may not see any account" in (
        response.content.decode()
    )
    assert not Scan.objects.exists()
    event = AuditEvent.objects.get(event_type=EventType.SCAN_REQUESTED)
    assert (event.outcome, event.actor_label) == ("denied", "bob")


# --- The action behind it: a person scans only what they can see ---------------------------------


@pytest.fixture
def analyst_on_a(alice_on_a: User) -> User:
    assign_role(alice_on_a, Role.ANALYST)
    return alice_on_a


def test_a_viewer_is_refused_by_the_write_itself_whatever_face_calls_it(alice_on_a: User) -> None:
    with pytest.raises(NotPermitted, match=r"your role \(viewer\) may not start scans"):
        do_request_scan(acting=alice_on_a, account_ids=[A])
    assert not Scan.objects.exists()
    refusal = AuditEvent.objects.get(event_type=EventType.PERMISSION_DENIED)
    assert (refusal.outcome, refusal.detail["action"]) == ("denied", "start_scan")


def test_a_person_without_account_ids_scans_their_visible_accounts(analyst_on_a: User) -> None:
    assert do_request_scan(acting=analyst_on_a).account_ids == [A]


def test_a_person_naming_an_account_they_cannot_see_is_told_the_same_as_for_an_unknown_one(
    analyst_on_a: User,
) -> None:
    messages = []
    for account in (B, "999999999999"):
        with pytest.raises(ActionError) as refused:
            do_request_scan(acting=analyst_on_a, account_ids=[account])
        messages.append(str(refused.value).replace(account, "<id>"))
    assert messages == ["account: not found or not visible to you: <id>"] * 2
    assert not Scan.objects.exists()
    denied = AuditEvent.objects.filter(
        event_type=EventType.SCAN_REQUESTED, outcome=AuditEvent.Outcome.DENIED
    )
    assert denied.count() == 2


def test_a_person_may_name_their_own_account(analyst_on_a: User) -> None:
    assert do_request_scan(acting=analyst_on_a, account_ids=[A]).account_ids == [A]


def test_a_person_who_sees_every_account_and_an_operator_scan_everything(
    charlie: User, accounts: dict[str, AwsAccount]
) -> None:
    assert do_request_scan(acting=charlie).account_ids == []
    assert do_request_scan(acting=Operator()).account_ids == []
    with pytest.raises(ActionError, match="not registered: 999999999999"):
        do_request_scan(acting=Operator(), account_ids=["999999999999"])


def test_a_newer_scan_is_announced_only_to_those_who_may_see_it(
    alice_on_a: User, partial: Scan
) -> None:
    Scan.objects.create(status=Scan.Status.QUEUED, account_ids=[B])
    assert scan_reads.freshness(alice_on_a).newer is None
    of_a = Scan.objects.create(status=Scan.Status.QUEUED, account_ids=[A])
    Scan.objects.create(status=Scan.Status.QUEUED, account_ids=[B])
    found = scan_reads.freshness(alice_on_a).newer
    assert found is not None
    assert found.pk == of_a.pk


def test_why_a_scan_stopped_names_no_account_the_viewer_may_not_see(
    alice_on_a: User, accounts: dict[str, AwsAccount]
) -> None:
    scan = Scan.objects.create(
        status=Scan.Status.FAILED,
        account_ids=[A, B],
        errors=[f"scan stopped: the worker died 3 times running {B} us-east-1 and {A} eu-west-1"],
    )
    failed = scan_reads.what_failed(scan, alice_on_a)
    assert failed == [
        f"scan stopped: the worker died 3 times running another account us-east-1 and {A} eu-west-1"
    ]


def test_the_history_of_a_narrower_viewer_pages_across_reading_batches(
    alice_on_a: User, accounts: dict[str, AwsAccount]
) -> None:
    created = [
        Scan.objects.create(status=Scan.Status.QUEUED, account_ids=[A if n % 2 else B])
        for n in range(230)
    ]
    hers = [scan.pk for scan in reversed(created) if scan.account_ids == [A]]
    page, more = scan_reads.scan_history(alice_on_a, 50, 25)
    assert ([scan.pk for scan in page], more) == (hers[50:75], True)
    last, more = scan_reads.scan_history(alice_on_a, 100, 25)
    assert ([scan.pk for scan in last], more) == (hers[100:115], False)
    newest = scan_reads.newest_visible_scan(alice_on_a)
    assert newest is not None
    assert newest.pk == hers[0]


def test_the_types_a_scan_listed_read_by_the_few_named_or_left_out() -> None:
    from compliance.aws import RESOURCE_TYPES
    from compliance.reads.scans import types_listed

    assert types_listed([]) == "every type"
    assert types_listed(list(RESOURCE_TYPES)) == "every type"
    assert types_listed(["sqs:queue", "ec2:instance"]) == "ec2:instance, sqs:queue"
    most = [t for t in RESOURCE_TYPES if t not in ("athena:workgroup", "kms:key")]
    assert types_listed(most) == "every type but athena:workgroup, kms:key"
