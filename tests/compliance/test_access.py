"""Per-account grants, enforced by the read layer for every viewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance import reads
from compliance.models import AccountAccess, AwsAccount, Scan
from compliance.permissions.accounts import (
    NarrowedViewer,
    Operator,
    one_answer,
    sees_all_accounts,
    visible_accounts,
)
from compliance.reads.resources import AccountNotVisible, scoped_accounts
from tests.conftest import grant


@pytest.fixture
def accounts(db: None) -> tuple[AwsAccount, AwsAccount]:
    return (
        AwsAccount.objects.create(account_id="111111111111", name="prod"),
        AwsAccount.objects.create(account_id="222222222222", name="dev"),
    )


def ids(queryset) -> list[str]:
    return sorted(queryset.values_list("account_id", flat=True))


def test_user_sees_only_granted_accounts(alice, accounts) -> None:
    grant(alice, accounts[0])
    assert ids(visible_accounts(alice)) == ["111111111111"]


def test_user_without_grant_sees_nothing(bob, accounts) -> None:
    assert ids(visible_accounts(bob)) == []


def test_group_grant_applies_to_members(bob, accounts) -> None:
    finops = Group.objects.create(name="finops-dev")
    bob.groups.add(finops)
    AccountAccess.objects.create(group=finops, account=accounts[1])
    assert ids(visible_accounts(bob)) == ["222222222222"]


def test_user_and_group_grants_combine_without_duplicates(alice, accounts) -> None:
    team = Group.objects.create(name="team")
    alice.groups.add(team)
    grant(alice, accounts[0])
    AccountAccess.objects.create(group=team, account=accounts[0])
    AccountAccess.objects.create(group=team, account=accounts[1])
    assert ids(visible_accounts(alice)) == ["111111111111", "222222222222"]


def test_view_all_permission_and_operator_see_everything(charlie, accounts) -> None:
    assert ids(visible_accounts(charlie)) == ["111111111111", "222222222222"]
    assert ids(visible_accounts(Operator())) == ["111111111111", "222222222222"]


def test_superuser_sees_everything(superuser, accounts) -> None:
    assert ids(visible_accounts(superuser)) == ["111111111111", "222222222222"]


def test_anonymous_and_inactive_users_see_nothing(alice, accounts) -> None:
    grant(alice, accounts[0])
    alice.is_active = False
    alice.save()
    assert ids(visible_accounts(AnonymousUser())) == []
    assert ids(visible_accounts(alice)) == []


def test_asking_for_an_account_not_granted_is_refused(alice, accounts) -> None:
    grant(alice, accounts[0])
    with pytest.raises(AccountNotVisible, match="222222222222"):
        scoped_accounts(alice, ["222222222222"])


def test_unknown_and_forbidden_accounts_get_the_same_answer(alice, accounts) -> None:
    with pytest.raises(AccountNotVisible) as forbidden:
        scoped_accounts(alice, ["222222222222"])
    with pytest.raises(AccountNotVisible) as unknown:
        scoped_accounts(alice, ["999999999999"])
    assert str(forbidden.value).replace("222222222222", "X") == str(unknown.value).replace(
        "999999999999", "X"
    )


def test_a_grant_names_a_user_or_a_group_not_both(alice, accounts) -> None:
    from django.db import IntegrityError, transaction

    group = Group.objects.create(name="g")
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountAccess.objects.create(user=alice, group=group, account=accounts[0])
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountAccess.objects.create(account=accounts[0])


def grant_reads(queries: CaptureQueriesContext) -> int:
    return sum('"compliance_accountaccess"' in q["sql"] for q in queries.captured_queries)


def test_within_one_answer_the_grants_are_read_once(alice, accounts) -> None:
    grant(alice, accounts[0])
    key = NarrowedViewer(alice, frozenset({"111111111111", "222222222222"}))
    with CaptureQueriesContext(connection) as outside:
        for _ in range(3):
            assert ids(visible_accounts(alice)) == ["111111111111"]
    assert grant_reads(outside) == 3
    with one_answer(), CaptureQueriesContext(connection) as inside:
        for _ in range(3):
            assert ids(visible_accounts(alice)) == ["111111111111"]
            assert ids(visible_accounts(key)) == ["111111111111"]
            assert not sees_all_accounts(alice)
            assert ids(scoped_accounts(alice, ["111111111111"])) == ["111111111111"]
    assert grant_reads(inside) == 1


def test_one_answer_keeps_viewers_apart_and_ends_with_its_block(alice, bob, accounts) -> None:
    grant(alice, accounts[0])
    grant(bob, accounts[1])
    with one_answer():
        assert ids(visible_accounts(alice)) == ["111111111111"]
        assert ids(visible_accounts(bob)) == ["222222222222"]
        assert ids(visible_accounts(NarrowedViewer(alice, frozenset({"222222222222"})))) == []
        assert ids(visible_accounts(Operator())) == ["111111111111", "222222222222"]
        with pytest.raises(AccountNotVisible):
            scoped_accounts(alice, ["222222222222"])
    grant(alice, accounts[1])  # a later answer sees the new grant
    with one_answer():
        assert ids(visible_accounts(alice)) == ["111111111111", "222222222222"]


def _denied(account_id: str) -> dict[str, str]:
    return {
        "account_id": account_id,
        "region": "eu-west-1",
        "resource_type": "*",
        "status": "error",
        "error_code": "AccessDenied",
        "error_message": "denied by SCP",
    }


def test_within_one_answer_the_latest_scan_and_account_ids_are_read_once(alice, accounts) -> None:
    grant(alice, accounts[0])
    finished = [
        Scan.objects.create(
            status=Scan.Status.PARTIAL,
            finished_at=timezone.now() - timedelta(hours=n),
            outcomes=[_denied("111111111111"), _denied("222222222222")],
        )
        for n in range(3)
    ]
    latest = finished[0]

    def answer() -> tuple[Scan | None, list[list[str]]]:
        blocks = [reads.scan_block(scan, alice) for scan in finished]
        return reads.latest_scan(), [block["failed"] for block in blocks if block]

    with CaptureQueriesContext(connection) as outside:
        assert answer() == (latest, [["111111111111 eu-west-1: AccessDenied denied by SCP"]] * 3)
    with one_answer(), CaptureQueriesContext(connection) as inside:
        for _ in range(3):
            assert answer() == (
                latest,
                [["111111111111 eu-west-1: AccessDenied denied by SCP"]] * 3,
            )
    assert grant_reads(outside) == 3  # a scan block reads the grants each time outside
    assert grant_reads(inside) == 1
    assert sum('FROM "compliance_scan"' in q["sql"] for q in inside.captured_queries) == 1
    # Read once means fresh in the next answer: a newer scan is the next answer's.
    newer = Scan.objects.create(status=Scan.Status.COMPLETE, finished_at=timezone.now())
    with one_answer():
        assert reads.latest_scan() == newer
