"""The compliance summary from the figures stored at finalisation: the same answer as counting
the current rows, for every viewer, and counted live again whenever the stored figures no longer
hold (exemptions created, removed or expired since, an account registered again) or a filter
asks what they cannot answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from compliance import reads
from compliance.models import AwsAccount, ComplianceSnapshot, Exemption, RuleSnapshot, Scan
from compliance.permissions.accounts import NarrowedViewer, Operator, Viewer
from compliance.reads.resources import ResourceFilter
from compliance.reads.summary import ComplianceSummary
from compliance.reads.violation_rules import violations_by_rule
from compliance.stored.summary import store_figures
from compliance.tasks import refresh_stored_figures_task
from compliance.writes.accounts import do_add_account
from compliance.writes.exemptions import do_create_exemption, do_remove_exemption
from compliance.writes.refusals import ActionError
from mcp_endpoint.tools.base import ToolCall
from mcp_endpoint.tools.compliance_tools import UntaggedInput, find_untagged_resources
from tests.compliance.aws.test_inventory import client_in
from tests.compliance.test_scans import ACCOUNT, REGIONS, Estate, estate, scan_now  # noqa: F401
from tests.conftest import grant

pytestmark = pytest.mark.django_db

OTHER = "222222222222"
EMPTY = "333333333333"
INVENTORY_TABLES = ('"compliance_resource"', '"compliance_violation"')


@pytest.fixture
def estates(estate: Estate) -> Estate:  # noqa: F811
    """The estate of test_scans in ACCOUNT (5 resources, 2 compliant, 6 violations), three
    resources in OTHER (1 compliant, 4 violations) and no resource in EMPTY."""
    operator = Operator()
    for account_id, name in ((OTHER, "data"), (EMPTY, "sandbox")):
        do_add_account(
            account_id=account_id,
            name=name,
            role_arn=f"arn:aws:iam::{account_id}:role/Reader",
            regions=REGIONS,
            acting=operator,
        )
    client_in(OTHER, "sqs", "us-east-1").create_queue(QueueName="other-untagged")
    client_in(OTHER, "sqs", "eu-west-1").create_queue(
        QueueName="other-good", tags={"Owner": "bob@example.com", "Environment": "staging"}
    )
    client_in(OTHER, "dynamodb", "eu-west-1").create_table(
        TableName="other-table",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "owner", "Value": "ann@example.com"}, {"Key": "Environment", "Value": "x"}],
    )
    return estate


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner", "owner@example.com", "owner-password-123")


def exempt(expires_at: datetime | None = None, **matchers: str) -> Exemption:
    return do_create_exemption(
        reason="accepted until the migration",
        owner="owner",
        expires_at=expires_at or timezone.now() + timedelta(days=30),
        acting=Operator(),
        **matchers,
    )


def scanned(exempted: bool = False) -> Scan:
    """A finished scan of the estates with its figures stored; ``exempted``: with OTHER's
    Environment tag and every bucket exempted first."""
    if exempted:
        exempt(account_id=OTHER, tag_key="Environment")
        exempt(resource_type="s3:bucket")
    scan = scan_now()
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    assert scan.finished_at is not None
    store_figures(scan, scan.finished_at)
    return scan


def comparable(summary: ComplianceSummary) -> tuple[Any, ...]:
    """Every figure, dict order included (the report and the tools show them in that order)."""
    return (
        summary.scan.pk if summary.scan else None,
        summary.total_resources,
        summary.in_scope_resources,
        summary.compliant_resources,
        summary.violation_count,
        summary.by_type,
        summary.by_region,
        summary.by_account,
        list(summary.by_violation_type.items()),
        list(summary.by_tag.items()),
        summary.exempted_violation_count,
    )


def answer(viewer: Viewer, where: ResourceFilter | None = None, **kw: Any) -> tuple[Any, bool]:
    """The summary's figures, and whether answering read resources or violations."""
    with CaptureQueriesContext(connection) as queries:
        summary = reads.compliance_summary(viewer, where, **kw)
    read = any(table in q["sql"] for q in queries.captured_queries for table in INVENTORY_TABLES)
    return comparable(summary), read


def live_then_stored(
    viewer: Viewer, scan: Scan, where: ResourceFilter | None = None
) -> tuple[Any, Any]:
    """The answer counted live (no stored figures), then the one from stored figures."""
    ComplianceSnapshot.objects.filter(scan=scan, dimension="violation_type").delete()
    live, read = answer(viewer, where)
    assert read
    assert scan.finished_at is not None
    store_figures(scan, scan.finished_at)
    stored, read = answer(viewer, where)
    assert not read
    return live, stored


@pytest.fixture
def viewers(alice: User, bob: User, charlie: User) -> dict[str, tuple[Viewer, ResourceFilter]]:
    grant(alice, AwsAccount.objects.get(account_id=ACCOUNT))
    return {
        "operator": (Operator(), ResourceFilter()),
        "operator, one account asked for": (Operator(), ResourceFilter(account_ids=[OTHER])),
        "alice, granted one account": (alice, ResourceFilter()),
        "charlie through a key narrowed to two accounts": (
            NarrowedViewer(charlie, frozenset({OTHER, EMPTY})),
            ResourceFilter(),
        ),
        "bob, no grant": (bob, ResourceFilter()),
    }


@pytest.mark.parametrize("exempted_at_finalisation", [False, True])
def test_stored_figures_equal_the_live_count_for_every_viewer(
    estates: Estate, owner: User, viewers: dict[str, Any], exempted_at_finalisation: bool
) -> None:
    scan = scanned(exempted_at_finalisation)
    for name, (viewer, where) in viewers.items():
        live, stored = live_then_stored(viewer, scan, where)
        assert stored == live, name
    # Not vacuous: the operator's figures are the two estates'.
    summary = reads.compliance_summary(Operator())
    if exempted_at_finalisation:
        # Exempted: the bucket's 2 (ACCOUNT's wrong-case Owner and invalid Environment) and
        # OTHER's 2 on Environment (the untagged queue's, the table's invalid value).
        expected = (8, 8, 4, 6, 4)
        by_type = {"invalid_format": 1, "missing_required_tag": 4, "wrong_key_case": 1}
    else:
        expected = (8, 8, 3, 10, 0)
        by_type = {
            "invalid_format": 1,
            "invalid_value": 2,
            "missing_required_tag": 5,
            "wrong_key_case": 2,
        }
    assert (
        summary.total_resources,
        summary.in_scope_resources,
        summary.compliant_resources,
        summary.violation_count,
        summary.exempted_violation_count,
    ) == expected
    assert summary.by_violation_type == by_type
    assert [row.key for row in summary.by_account] == [ACCOUNT, OTHER]


def test_each_viewer_gets_the_sum_of_their_accounts(
    estates: Estate, owner: User, viewers: dict[str, Any]
) -> None:
    scanned()
    totals = {name: answer(viewer, where)[0][1:5] for name, (viewer, where) in viewers.items()}
    assert totals == {
        "operator": (8, 8, 3, 10),
        "operator, one account asked for": (3, 3, 1, 4),
        "alice, granted one account": (5, 5, 2, 6),
        "charlie through a key narrowed to two accounts": (3, 3, 1, 4),
        "bob, no grant": (0, 0, 0, 0),
    }


def test_violation_type_rows_per_account_with_the_exemptions_then(
    estates: Estate, owner: User
) -> None:
    first = exempt(account_id=OTHER, tag_key="Environment")
    exempt(resource_type="s3:bucket", expires_at=timezone.now() + timedelta(days=2))
    first.expires_at = timezone.now() - timedelta(seconds=1)  # expired: counted, not active
    first.save()
    scan = scanned()
    store_figures(scan, scan.finished_at or timezone.now())  # a second call replaces the rows
    rows = {
        (row.account_id, row.key): (
            row.violations,
            row.exempted,
            row.exemptions_active,
            row.last_exemption_id,
        )
        for row in ComplianceSnapshot.objects.filter(scan=scan, dimension="violation_type")
    }
    last = Exemption.objects.latest("id").pk
    assert rows == {
        (ACCOUNT, ""): (4, 2, 1, last),
        (ACCOUNT, "missing_required_tag"): (3, 0, None, None),
        (ACCOUNT, "invalid_format"): (1, 0, None, None),
        (ACCOUNT, "invalid_value"): (0, 1, None, None),
        (ACCOUNT, "wrong_key_case"): (0, 1, None, None),
        (OTHER, ""): (4, 0, 1, last),
        (OTHER, "missing_required_tag"): (2, 0, None, None),
        (OTHER, "invalid_value"): (1, 0, None, None),
        (OTHER, "wrong_key_case"): (1, 0, None, None),
    }


def test_an_exemption_created_since_is_applied_at_once(estates: Estate, owner: User) -> None:
    scanned()
    before, _ = answer(Operator())
    exempt(account_id=OTHER)
    after, read = answer(Operator())
    assert read
    # OTHER's 4 violations are exempted: its two failing resources become compliant.
    assert (before[3], before[4], before[10]) == (3, 10, 0)
    assert (after[3], after[4], after[10]) == (5, 6, 4)


def test_an_exemption_removed_since_counts_its_violations_again(
    estates: Estate, owner: User
) -> None:
    exemption = exempt(account_id=OTHER)
    scanned()
    stored, read = answer(Operator())
    assert not read
    assert (stored[3], stored[4], stored[10]) == (5, 6, 4)
    do_remove_exemption(exemption.pk, acting=Operator())
    after, read = answer(Operator())
    assert read
    assert (after[3], after[4], after[10]) == (3, 10, 0)


def test_an_exemption_expired_since_counts_its_violations_again(
    estates: Estate, owner: User
) -> None:
    exempt(account_id=OTHER, expires_at=timezone.now() + timedelta(days=2))
    scanned()
    stored, read = answer(Operator(), now=timezone.now() + timedelta(days=1))
    assert not read
    assert (stored[4], stored[10]) == (6, 4)
    expired, read = answer(Operator(), now=timezone.now() + timedelta(days=3))
    assert read
    assert (expired[4], expired[10]) == (10, 0)


def queued_refreshes() -> list[datetime | None]:
    """When each queued refresh of the stored figures may run (``None``: at once)."""
    return [
        task.task.run_after
        for task in DBTaskResult.objects.filter(
            task_path="compliance.tasks.refresh_stored_figures_task"
        ).order_by("enqueued_at", "id")
    ]


def test_an_exemption_change_queues_a_refresh_that_stores_the_rule_figures_again(
    estates: Estate, owner: User
) -> None:
    scanned()
    expires_at = timezone.now() + timedelta(days=30)
    exemption = exempt(account_id=OTHER, expires_at=expires_at)
    assert queued_refreshes() == [None, expires_at]
    live, read = rules_answer(Operator(), ResourceFilter())
    assert read
    assert refresh_stored_figures_task.call().startswith("figures stored for scan #")
    stored, read = rules_answer(Operator(), ResourceFilter())
    assert not read
    assert stored == live
    assert (stored.violations, stored.affected_resources, stored.exempted_violations) == (6, 3, 4)
    # The summary's figures are the scan's snapshots, history: counted live until the next scan.
    assert answer(Operator())[1]

    do_remove_exemption(exemption.pk, acting=Operator())
    assert queued_refreshes() == [None, expires_at, None]
    live, read = rules_answer(Operator(), ResourceFilter())
    assert read
    refresh_stored_figures_task.call()
    stored, read = rules_answer(Operator(), ResourceFilter())
    assert not read
    assert stored == live
    assert (stored.violations, stored.affected_resources, stored.exempted_violations) == (10, 5, 0)


def test_a_refused_exemption_queues_nothing(estates: Estate, owner: User) -> None:
    with pytest.raises(ActionError):
        exempt(account_id="999999999999")
    assert queued_refreshes() == []


def test_an_instant_before_the_figures_were_stored_is_counted_live(
    estates: Estate, owner: User
) -> None:
    scan = scanned()
    assert scan.finished_at is not None
    _figures, read = answer(Operator(), now=scan.finished_at - timedelta(seconds=1))
    assert read


def test_an_account_registered_again_since_has_no_figures(estates: Estate, owner: User) -> None:
    scanned()
    AwsAccount.objects.filter(account_id=OTHER).delete()  # its resources go with it
    do_add_account(account_id=OTHER, name="data again", acting=Operator())
    figures, read = answer(Operator())
    assert read
    assert figures[1:5] == (5, 5, 2, 6)
    assert [row.key for row in figures[7]] == [ACCOUNT]


def test_a_deleted_account_leaves_the_figures(estates: Estate, owner: User) -> None:
    scanned()
    AwsAccount.objects.filter(account_id=OTHER).delete()
    figures, read = answer(Operator())
    assert not read
    assert figures[1:5] == (5, 5, 2, 6)


def test_a_region_or_type_filter_is_counted_live(estates: Estate, owner: User) -> None:
    scanned()
    filters = [
        (ResourceFilter(regions=["eu-west-1"]), (4, 4, 2, 4)),
        (ResourceFilter(resource_types=["sqs:queue"]), (3, 3, 2, 2)),
        (ResourceFilter(account_ids=[ACCOUNT], regions=["us-east-1"]), (3, 3, 1, 4)),
    ]
    for where, expected in filters:
        figures, read = answer(Operator(), where)
        assert read
        assert figures[1:5] == expected, where


def test_an_account_not_visible_is_refused_as_before(
    estates: Estate, owner: User, alice: User
) -> None:
    grant(alice, AwsAccount.objects.get(account_id=ACCOUNT))
    scanned()
    with pytest.raises(reads.AccountNotVisible, match=OTHER):
        reads.compliance_summary(alice, ResourceFilter(account_ids=[OTHER]))


def test_without_a_finished_scan_the_figures_are_empty(estates: Estate) -> None:
    summary = reads.compliance_summary(Operator())
    assert summary.scan is None
    assert comparable(summary) == (None, 0, 0, 0, 0, [], [], [], [], [], 0)


def test_trends_ignore_the_violation_type_rows(estates: Estate, owner: User) -> None:
    scan = scanned()
    points = reads.compliance_trend(Operator())
    assert [(p.scan_id, p.total_resources, p.violations) for p in points] == [(scan.pk, 8, 10)]
    periods = reads.violation_history(Operator())
    assert [(p.scan_id, p.violations) for p in periods] == [(scan.pk, 10)]


def rules(viewer: Viewer, where: ResourceFilter | None = None, **narrowed: str) -> Any:
    """The violations page's figures, narrowed to a violation type or tag as ``narrowed`` says."""
    return violations_by_rule(
        viewer,
        where,
        violation_type=narrowed.get("violation_type", ""),
        tag_name=narrowed.get("tag_name", ""),
    )


def rules_answer(viewer: Viewer, where: ResourceFilter, **narrowed: str) -> tuple[Any, bool]:
    """The violations page's figures, and whether answering read violations."""
    with CaptureQueriesContext(connection) as queries:
        breakdown = rules(viewer, where, **narrowed)
    read = any('"compliance_violation"' in q["sql"] for q in queries.captured_queries)
    return breakdown, read


@pytest.mark.parametrize("exempted_at_finalisation", [False, True])
@pytest.mark.parametrize(
    "narrowed",
    [
        {},
        {"violation_type": "missing_required_tag"},
        {"tag_name": "Environment"},
        {"tag_name": "Owner", "violation_type": "wrong_key_case"},
        {"tag_name": "NoSuchTag"},
    ],
    ids=["every rule", "one kind", "one tag", "one rule", "no such tag"],
)
def test_rules_from_stored_figures_equal_the_live_count_for_every_viewer(
    estates: Estate,
    owner: User,
    viewers: dict[str, Any],
    exempted_at_finalisation: bool,
    narrowed: dict[str, str],
) -> None:
    scan = scanned(exempted_at_finalisation)
    for name, (viewer, where) in viewers.items():
        stored, read = rules_answer(viewer, where, **narrowed)
        assert not read, name
        rows = list(RuleSnapshot.objects.filter(scan=scan).values())
        RuleSnapshot.objects.filter(scan=scan).delete()
        live, read = rules_answer(viewer, where, **narrowed)
        assert read, name
        RuleSnapshot.objects.bulk_create(RuleSnapshot(**row) for row in rows)
        assert stored == live, name
    # Not vacuous: the operator's figures over both estates.
    breakdown = rules(Operator(), None, **narrowed)
    # Missing tags: ACCOUNT's untagged instance (3) and OTHER's untagged queue (2, one of them
    # on Environment, exempted in OTHER).
    expected = {
        (False, ""): (10, 5, 0),
        (True, ""): (6, 4, 4),
        (False, "missing_required_tag"): (5, 2, 0),
        (True, "missing_required_tag"): (4, 2, 1),
    }
    key = (exempted_at_finalisation, narrowed.get("violation_type", ""))
    if not narrowed.get("tag_name") and key in expected:
        assert (
            breakdown.violations,
            breakdown.affected_resources,
            breakdown.exempted_violations,
        ) == expected[key]
    if narrowed.get("tag_name") == "NoSuchTag":
        assert (breakdown.rules, breakdown.violations, breakdown.affected_resources) == ([], 0, 0)


def test_rules_are_counted_live_for_a_region_filter_or_once_exemptions_change(
    estates: Estate, owner: User
) -> None:
    scanned()
    _, read = rules_answer(Operator(), ResourceFilter())
    assert not read
    _, read = rules_answer(Operator(), ResourceFilter(regions=["eu-west-1"]))
    assert read
    exempt(account_id=OTHER)
    breakdown, read = rules_answer(Operator(), ResourceFilter())
    assert read
    assert (breakdown.violations, breakdown.exempted_violations) == (6, 4)
    refresh_stored_figures_task.call()
    again, read = rules_answer(Operator(), ResourceFilter())
    assert not read
    assert again == breakdown


# ACCOUNT's untagged instance and OTHER's untagged queue miss tags (both Owner); the bucket and
# the table have a key in the wrong case.
@pytest.mark.parametrize(
    ("arguments", "untagged"),
    [
        pytest.param({}, 2, id="any tag"),
        pytest.param({"tag_names": ["Owner"]}, 2, id="one tag"),
        pytest.param({"tag_names": ["Owner", "Owner"]}, 2, id="one tag twice"),
        pytest.param({"tag_names": ["Owner", "Project"]}, 2, id="two tags"),
        pytest.param({"include_wrong_case": True}, 4, id="wrong case too"),
        # A region filter is counted live (the stored rows are per account): the expected
        # figures check that path against the estate.
        pytest.param({"regions": ["us-east-1"]}, 2, id="a region, counted live"),
        pytest.param(
            {"regions": ["eu-west-1"], "include_wrong_case": True}, 2, id="wrong case in a region"
        ),
        pytest.param({"regions": ["eu-west-1"]}, 0, id="a region without any"),
    ],
)
def test_find_untagged_resources_counts_the_same_from_stored_figures(
    estates: Estate,
    owner: User,
    viewers: dict[str, Any],
    arguments: dict[str, Any],
    untagged: int,
) -> None:
    scan = scanned()
    params = UntaggedInput(**arguments)
    for name, (viewer, _) in viewers.items():
        call = ToolCall(viewer=viewer, interface="test")
        stored = find_untagged_resources(call, params)
        rows = list(RuleSnapshot.objects.filter(scan=scan).values())
        RuleSnapshot.objects.filter(scan=scan).delete()
        live = find_untagged_resources(call, params)
        RuleSnapshot.objects.bulk_create(RuleSnapshot(**row) for row in rows)
        assert stored == live, name
    result = find_untagged_resources(ToolCall(viewer=Operator(), interface="test"), params)
    assert result["total_untagged"] == untagged
    assert len(result["resources"]) == untagged
    for region in arguments.get("regions", ()):
        assert {row["region"] for row in result["resources"]} <= {region}
