"""Trends, tag drift and violation history: exact figures per period, per scan range and per
viewer, from rows built by hand (exact numbers) and from real scans of a moto estate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from django.contrib.auth.models import User

from compliance import reads
from compliance.core import policy
from compliance.models import (
    AwsAccount,
    ComplianceSnapshot,
    Resource,
    Scan,
    TagChange,
    TaggingPolicy,
    Violation,
)
from compliance.permissions.accounts import Operator
from compliance.reads.drift import tag_drift
from compliance.reads.resources import AccountNotVisible, ResourceFilter
from compliance.reads.trends import (
    HistoryError,
    InvalidScanRange,
    UnknownScan,
    UnsupportedFilter,
    compliance_trend,
    tag_key_trend,
)
from compliance.reads.violation_history import resource_violation_history, violation_history
from compliance.scans import _take_snapshots, execute_scan
from compliance.writes.accounts import do_add_account
from compliance.writes.costs import do_import_costs
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.billing import bills
from tests.compliance.policies import TEST_POLICY
from tests.conftest import grant

pytestmark = pytest.mark.django_db

A, B = "111111111111", "222222222222"
#: The account moto answers for.
MOTO = "123456789012"
DIM = ComplianceSnapshot.Dimension


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


@pytest.fixture
def accounts(db: None) -> dict[str, AwsAccount]:
    do_import_policy(TEST_POLICY, acting=Operator())
    return {
        A: AwsAccount.objects.create(account_id=A, name="a"),
        B: AwsAccount.objects.create(account_id=B, name="b"),
    }


@pytest.fixture
def alice_on_a(alice: User, accounts: dict[str, AwsAccount]) -> User:
    grant(alice, accounts[A])
    return alice


def finished(when: datetime, status: str = Scan.Status.COMPLETE) -> Scan:
    return Scan.objects.create(status=status, finished_at=when)


def snap(
    scan: Scan, account: str, counts: tuple[int, int, int, int], dim: str = DIM.ACCOUNT, key=""
) -> None:
    assert scan.finished_at is not None
    total, in_scope, compliant, violations = counts
    ComplianceSnapshot.objects.create(
        scan=scan,
        taken_at=scan.finished_at,
        account_id=account,
        dimension=dim,
        key=key,
        total_resources=total,
        in_scope=in_scope,
        compliant=compliant,
        violations=violations,
    )


def figures(points: list[reads.TrendPoint]) -> list[tuple[object, ...]]:
    return [
        (
            p.period_start.date().isoformat(),
            p.scan_id,
            p.total_resources,
            p.in_scope,
            p.compliant,
            p.violations,
        )
        for p in points
    ]


# --- Trends -------------------------------------------------------------------------------------


@pytest.fixture
def three_days(accounts: dict[str, AwsAccount]) -> list[Scan]:
    """Two scans on 1 March (the evening one must win), one on 2 March, a failed one after."""
    morning, evening, next_day = finished(at(1, 9)), finished(at(1, 18)), finished(at(2))
    finished(at(2, 20), status=Scan.Status.FAILED)
    snap(morning, A, (10, 10, 5, 7))
    snap(morning, B, (4, 4, 4, 0))
    snap(evening, A, (10, 10, 8, 2))
    snap(evening, B, (4, 4, 2, 3))
    snap(next_day, A, (12, 12, 12, 0))
    snap(next_day, B, (5, 4, 1, 6))
    return [morning, evening, next_day]


def test_daily_trend_takes_the_last_finished_scan_of_each_day(three_days: list[Scan]) -> None:
    _, evening, next_day = three_days
    points = compliance_trend(Operator())
    assert figures(points) == [
        ("2024-03-01", evening.pk, 14, 14, 10, 5),
        ("2024-03-02", next_day.pk, 17, 16, 13, 6),
    ]
    assert points[0].compliance_score == pytest.approx(10 / 14)
    assert points[1].finished_at == at(2)


def test_trend_sums_only_the_accounts_the_viewer_may_see(
    three_days: list[Scan], alice_on_a: User, bob: User
) -> None:
    _, evening, next_day = three_days
    assert figures(compliance_trend(alice_on_a)) == [
        ("2024-03-01", evening.pk, 10, 10, 8, 2),
        ("2024-03-02", next_day.pk, 12, 12, 12, 0),
    ]
    # No grant at all: the same x axis, nothing on it.
    assert [(p.total_resources, p.compliance_score) for p in compliance_trend(bob)] == [
        (0, None),
        (0, None),
    ]
    with pytest.raises(AccountNotVisible):
        compliance_trend(alice_on_a, ResourceFilter(account_ids=[B]))


def test_weekly_and_monthly_trends_bucket_by_iso_week_and_calendar_month(
    accounts: dict[str, AwsAccount],
) -> None:
    monday, sunday, next_monday = finished(at(4)), finished(at(10)), finished(at(11))
    april = finished(at(2, month=4))
    for scan, n in ((monday, 1), (sunday, 2), (next_monday, 3), (april, 4)):
        snap(scan, A, (n, n, n, 0))
    assert figures(compliance_trend(Operator(), granularity="week")) == [
        ("2024-03-04", sunday.pk, 2, 2, 2, 0),
        ("2024-03-11", next_monday.pk, 3, 3, 3, 0),
        ("2024-04-01", april.pk, 4, 4, 4, 0),
    ]
    assert figures(compliance_trend(Operator(), granularity="month")) == [
        ("2024-03-01", next_monday.pk, 3, 3, 3, 0),
        ("2024-04-01", april.pk, 4, 4, 4, 0),
    ]
    assert figures(compliance_trend(Operator(), granularity="month", since=at(1, month=4))) == [
        ("2024-04-01", april.pk, 4, 4, 4, 0)
    ]
    with pytest.raises(HistoryError, match="granularity"):
        compliance_trend(Operator(), granularity="year")  # type: ignore[arg-type]


def test_region_and_type_filters_read_their_own_snapshot_rows(
    accounts: dict[str, AwsAccount],
) -> None:
    scan = finished(at(1))
    snap(scan, A, (9, 9, 4, 8))
    snap(scan, A, (5, 5, 1, 6), DIM.REGION, "us-east-1")
    snap(scan, A, (4, 4, 3, 2), DIM.REGION, "eu-west-1")
    snap(scan, B, (2, 2, 0, 4), DIM.REGION, "us-east-1")
    snap(scan, A, (3, 3, 0, 5), DIM.RESOURCE_TYPE, "ec2:instance")
    snap(scan, A, (6, 6, 4, 3), DIM.RESOURCE_TYPE, "s3:bucket")
    regional = compliance_trend(Operator(), ResourceFilter(regions=["us-east-1"]))
    assert figures(regional) == [("2024-03-01", scan.pk, 7, 7, 1, 10)]
    typed = compliance_trend(
        Operator(), ResourceFilter(account_ids=[A], resource_types=["s3:bucket"])
    )
    assert figures(typed) == [("2024-03-01", scan.pk, 6, 6, 4, 3)]
    with pytest.raises(UnsupportedFilter, match="not both"):
        compliance_trend(Operator(), ResourceFilter(regions=["us-east-1"], resource_types=["x:y"]))


def test_tag_key_trend_follows_one_required_tag(
    accounts: dict[str, AwsAccount], alice_on_a: User
) -> None:
    first, second = finished(at(1)), finished(at(2))
    snap(first, A, (5, 5, 2, 3), DIM.TAG_KEY, "Owner")
    snap(first, B, (3, 3, 3, 0), DIM.TAG_KEY, "Owner")
    snap(first, A, (5, 5, 5, 0), DIM.TAG_KEY, "Environment")
    snap(second, A, (6, 6, 6, 0), DIM.TAG_KEY, "Owner")
    assert figures(tag_key_trend(Operator(), "Owner")) == [
        ("2024-03-01", first.pk, 8, 8, 5, 3),
        ("2024-03-02", second.pk, 6, 6, 6, 0),
    ]
    assert figures(tag_key_trend(alice_on_a, "Owner")) == [
        ("2024-03-01", first.pk, 5, 5, 2, 3),
        ("2024-03-02", second.pk, 6, 6, 6, 0),
    ]
    assert tag_key_trend(Operator(), "Environment")[1].compliance_score is None
    with pytest.raises(UnsupportedFilter):
        tag_key_trend(Operator(), "Owner", ResourceFilter(regions=["us-east-1"]))


# --- Drift --------------------------------------------------------------------------------------


def resource(account: AwsAccount, arn: str, resource_type: str, **fields) -> Resource:
    return Resource.objects.create(
        arn=arn,
        account=account,
        region=fields.pop("region", "us-east-1"),
        resource_type=resource_type,
        first_seen_at=at(1),
        last_seen_at=at(3),
        **fields,
    )


def change(res: Resource, scan: Scan, key: str, old: str | None, new: str | None) -> None:
    kind = "added" if old is None else "removed" if new is None else "changed"
    assert scan.finished_at is not None
    TagChange.objects.create(
        resource=res,
        scan=scan,
        observed_at=scan.finished_at,
        key=key,
        kind=kind,
        old_value=old,
        new_value=new,
    )


class Drifted:
    def __init__(self, accounts: dict[str, AwsAccount]) -> None:
        self.s1, self.s2, self.s3 = finished(at(1)), finished(at(2)), finished(at(3))
        self.failed = finished(at(4), status=Scan.Status.FAILED)
        self.instance = resource(
            accounts[A], f"arn:aws:ec2:us-east-1:{A}:instance/i-1", "ec2:instance"
        )
        self.bucket = resource(accounts[B], "arn:aws:s3:::b-bucket", "s3:bucket")
        change(self.instance, self.s2, "Owner", None, "ann@example.com")
        change(self.instance, self.s2, "Name", "web", "web-1")
        change(self.instance, self.s3, "Environment", "production", None)
        change(self.instance, self.s3, "Project", None, "x")
        change(self.bucket, self.s3, "owner", "bob@example.com", "ann@example.com")
        change(self.bucket, self.s3, "Project", None, "x")  # Project applies to instances only


@pytest.fixture
def drifted(accounts: dict[str, AwsAccount]) -> Drifted:
    return Drifted(accounts)


def rows(drift: reads.TagDrift) -> list[tuple[object, ...]]:
    return [
        (r.arn, c.key, c.kind, c.old_value, c.new_value, c.scan_id, c.required)
        for r in drift.resources
        for c in r.changes
    ]


def test_default_drift_is_what_changed_at_the_last_scan(drifted: Drifted) -> None:
    drift = tag_drift(Operator())
    assert (drift.from_scan_id, drift.to_scan_id) == (drifted.s2.pk, drifted.s3.pk)
    s3 = drifted.s3.pk
    assert rows(drift) == [
        (drifted.instance.arn, "Environment", "removed", "production", None, s3, True),
        (drifted.instance.arn, "Project", "added", None, "x", s3, True),
        (drifted.bucket.arn, "Project", "added", None, "x", s3, False),
        (drifted.bucket.arn, "owner", "changed", "bob@example.com", "ann@example.com", s3, True),
    ]
    assert drift.resources[0].changes[0].observed_at == at(3)
    assert drift.summary == reads.DriftSummary(
        resources=2,
        changes=4,
        required_changes=3,
        by_kind={"added": 2, "changed": 1, "removed": 1},
        by_key={"Environment": 1, "Project": 2, "owner": 1},
    )
    assert drift.next_cursor is None


def test_drift_between_two_given_scans_and_since(drifted: Drifted) -> None:
    drift = tag_drift(Operator(), from_scan=drifted.s1.pk, to_scan=drifted.s2.pk)
    assert [(c[1], c[2], c[6]) for c in rows(drift)] == [
        ("Name", "changed", False),
        ("Owner", "added", True),
    ]
    assert drift.resources[0].touches_required
    whole = tag_drift(Operator(), from_scan=drifted.s1.pk)
    assert whole.summary.changes == 6
    assert whole.summary.by_kind == {"added": 3, "changed": 2, "removed": 1}
    recent = tag_drift(Operator(), since=at(2, 18))
    assert recent.from_scan_id is None
    assert recent.summary.changes == 4


def test_drift_only_shows_resources_of_visible_accounts(
    drifted: Drifted, alice_on_a: User, bob: User
) -> None:
    drift = tag_drift(alice_on_a, from_scan=drifted.s1.pk)
    assert {r.arn for r in drift.resources} == {drifted.instance.arn}
    assert drift.summary.by_key == {"Environment": 1, "Name": 1, "Owner": 1, "Project": 1}
    assert tag_drift(bob).resources == []
    with pytest.raises(AccountNotVisible):
        tag_drift(alice_on_a, ResourceFilter(account_ids=[B]))


def test_drift_pages_by_resource(drifted: Drifted) -> None:
    first = tag_drift(Operator(), from_scan=drifted.s1.pk, limit=1)
    assert [r.arn for r in first.resources] == [drifted.instance.arn]
    assert len(first.resources[0].changes) == 4
    assert first.next_cursor
    second = tag_drift(Operator(), from_scan=drifted.s1.pk, limit=1, cursor=first.next_cursor)
    assert [r.arn for r in second.resources] == [drifted.bucket.arn]
    assert second.next_cursor is None
    assert second.summary == first.summary
    with pytest.raises(HistoryError, match="cursor"):
        tag_drift(Operator(), cursor="not-a-cursor")
    with pytest.raises(HistoryError, match="limit"):
        tag_drift(Operator(), limit=0)


def test_drift_refuses_unknown_unfinished_and_backwards_scan_ids(drifted: Drifted) -> None:
    with pytest.raises(UnknownScan, match=r"to_scan: scan #999999 does not exist"):
        tag_drift(Operator(), to_scan=999999)
    with pytest.raises(UnknownScan, match="from_scan"):
        tag_drift(Operator(), from_scan=drifted.failed.pk)
    with pytest.raises(InvalidScanRange, match="is not before"):
        tag_drift(Operator(), from_scan=drifted.s3.pk, to_scan=drifted.s2.pk)
    with pytest.raises(InvalidScanRange):
        tag_drift(Operator(), from_scan=drifted.s2.pk, to_scan=drifted.s2.pk)


def test_drift_without_any_finished_scan_is_empty(accounts: dict[str, AwsAccount]) -> None:
    drift = tag_drift(Operator())
    assert (drift.to_scan_id, drift.resources, drift.summary.changes) == (None, [], 0)


# --- Violation history --------------------------------------------------------------------------


def violation(res: Resource, scan: Scan, kind: str, tag: str, first: datetime) -> None:
    Violation.objects.create(
        resource=res,
        scan=scan,
        policy=TaggingPolicy.objects.get(is_active=True),
        violation_type=kind,
        tag_name=tag,
        current_value=None,
        expected=f"key '{tag}'",
        first_detected_at=first,
    )


def test_violation_history_gives_open_totals_and_new_violations_per_period(
    drifted: Drifted, alice_on_a: User
) -> None:
    snap(drifted.s1, A, (1, 1, 0, 3))
    snap(drifted.s1, A, (1, 1, 0, 2), DIM.TAG_KEY, "Owner")
    snap(drifted.s1, A, (1, 1, 0, 1), DIM.TAG_KEY, "Project")
    snap(drifted.s3, A, (1, 1, 0, 1))
    snap(drifted.s3, B, (1, 1, 0, 2))
    snap(drifted.s3, A, (1, 1, 0, 1), DIM.TAG_KEY, "Environment")
    snap(drifted.s3, B, (1, 1, 0, 2), DIM.TAG_KEY, "Owner")
    violation(drifted.instance, drifted.s3, "missing_required_tag", "Environment", at(1))
    violation(drifted.bucket, drifted.s3, "invalid_format", "Owner", at(3))
    violation(drifted.bucket, drifted.s3, "wrong_key_case", "Owner", at(3))

    periods = violation_history(Operator())
    assert [
        (p.period_start.day, p.scan_id, p.violations, p.violations_by_tag, p.new_violations)
        for p in periods
    ] == [
        (1, drifted.s1.pk, 3, {"Owner": 2, "Project": 1}, 1),
        (2, drifted.s2.pk, 0, {}, 0),
        (3, drifted.s3.pk, 3, {"Environment": 1, "Owner": 2}, 2),
    ]
    assert periods[0].new_by_type == {"missing_required_tag": 1}
    assert periods[2].new_by_type == {"invalid_format": 1, "wrong_key_case": 1}
    assert periods[2].new_by_tag == {"Owner": 2}

    mine = violation_history(alice_on_a, granularity="month")
    assert [(p.violations, p.violations_by_tag, p.new_violations) for p in mine] == [
        (1, {"Environment": 1}, 1)
    ]
    regional = violation_history(Operator(), ResourceFilter(regions=["us-east-1"]))
    assert regional[0].violations_by_tag is None


def test_resource_history_gives_the_timeline_and_open_violations(
    drifted: Drifted, alice_on_a: User
) -> None:
    violation(drifted.instance, drifted.s3, "missing_required_tag", "Environment", at(3))
    found = resource_violation_history(alice_on_a, drifted.instance.arn)
    assert [(c.key, c.kind, c.observed_at.day, c.required) for c in found.tag_changes] == [
        ("Name", "changed", 2, False),
        ("Owner", "added", 2, True),
        ("Environment", "removed", 3, True),
        ("Project", "added", 3, True),
    ]
    assert [
        (v.violation_type, v.tag_name, v.first_detected_at, v.policy_version)
        for v in found.violations
    ] == [("missing_required_tag", "Environment", at(3), 1)]
    assert found.account_id == A


@pytest.mark.parametrize("arn", ["arn:aws:s3:::b-bucket", "arn:aws:s3:::no-such-bucket"])
def test_resource_history_hides_unknown_and_forbidden_arns_alike(
    drifted: Drifted, alice_on_a: User, arn: str
) -> None:
    with pytest.raises(
        AccountNotVisible, match=f"resource: not found or not visible to you: {arn}"
    ):
        resource_violation_history(alice_on_a, arn)


# --- Against real scans -------------------------------------------------------------------------


def scan_now() -> Scan:
    scan = do_request_scan(acting=Operator(), resource_types=["ec2:instance", "sqs:queue"])
    return execute_scan(scan.pk)


def test_real_rescans_give_drift_and_a_trend(mocked_aws: None) -> None:
    do_add_account(account_id=MOTO, name="prod", regions=["us-east-1"], acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Owner", "Value": "ann@example.com"},
                    {"Key": "Environment", "Value": "production"},
                    {"Key": "Name", "Value": "web-1"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.create_queue(QueueName="jobs", tags={"Owner": "bob@example.com"})

    first = scan_now()
    ec2.create_tags(
        Resources=[instance],
        Tags=[{"Key": "Project", "Value": "x"}, {"Key": "Name", "Value": "web-2"}],
    )
    ec2.delete_tags(Resources=[instance], Tags=[{"Key": "Environment"}])
    second = scan_now()

    drift = tag_drift(Operator())
    assert (drift.from_scan_id, drift.to_scan_id) == (first.pk, second.pk)
    assert [
        (c.key, c.kind, c.old_value, c.new_value, c.required) for c in drift.resources[0].changes
    ] == [
        ("Environment", "removed", "production", None, True),
        ("Name", "changed", "web-1", "web-2", False),
        ("Project", "added", None, "x", True),
    ]
    assert drift.resources[0].arn == f"arn:aws:ec2:us-east-1:{MOTO}:instance/{instance}"
    # Both scans ran today: the daily trend has one point, the later scan's.
    (point,) = compliance_trend(Operator())
    assert (point.scan_id, point.total_resources, point.in_scope, point.compliant) == (
        second.pk,
        2,
        2,
        0,
    )
    # Instance lacks Environment now; the queue lacks Environment throughout.
    assert point.violations == 2
    owner = tag_key_trend(Operator(), "Environment")[0]
    assert (owner.in_scope, owner.compliant, owner.violations) == (2, 0, 2)


# --- Attribution trend --------------------------------------------------------------------------


def snapshot_scan(when: datetime) -> Scan:
    """A finished scan whose snapshots ``_take_snapshots`` writes from the current estate."""
    scan = finished(when)
    row = TaggingPolicy.objects.get(is_active=True)
    _take_snapshots(scan, policy.policy_from_dict(row.document), when)
    return scan


def money_of(points: list[reads.AttributionPoint]) -> list[tuple[object, ...]]:
    return [
        (
            p.period_start.date().isoformat(),
            p.scan_id,
            p.cost_source,
            p.billing_period_start,
            p.total_spend,
            p.attributable_spend,
            p.attribution_gap,
            p.unattributable_spend,
            p.unmatched_resource_spend,
        )
        for p in points
    ]


@pytest.fixture
def billed(tmp_path: Path) -> list[Scan]:
    """The bills.py estate: a scan before any bill, one with the May FOCUS bill loaded, and one
    after i-0bbb (19.000 of gap) got its tags fixed."""
    bills.build_estate()
    # build_estate's own scan has no snapshots; keep it out of March.
    Scan.objects.update(finished_at=at(1, month=2))
    before = snapshot_scan(at(1))
    do_import_costs(
        str(bills.write_csv(tmp_path / "focus.csv", bills.FOCUS_HEADER, bills.FOCUS_ROWS)),
        acting=Operator(),
    )
    loaded = snapshot_scan(at(2))
    Violation.objects.filter(resource__arn=bills.I_BBB).delete()
    fixed = snapshot_scan(at(3))
    return [before, loaded, fixed]


def test_attribution_trend_is_exact_per_period(billed: list[Scan]) -> None:
    before, loaded, fixed = billed
    may = bills.MAY.date()
    points = reads.attribution_trend(Operator(), granularity="day", since=at(1, 0))
    assert money_of(points) == [
        ("2024-03-01", before.pk, None, None, None, None, None, None, None),
        (
            "2024-03-02",
            loaded.pk,
            "focus",
            may,
            bills.TOTAL,
            bills.ATTRIBUTABLE,
            bills.GAP,
            bills.UNATTRIBUTABLE,
            bills.UNMATCHED,
        ),
        (
            "2024-03-03",
            fixed.pk,
            "focus",
            may,
            bills.TOTAL,
            bills.ATTRIBUTABLE + Decimal("19.000"),
            bills.GAP - Decimal("19.000"),
            bills.UNATTRIBUTABLE,
            bills.UNMATCHED,
        ),
    ]
    # A month is represented by its last scan; the scan of February had no costs.
    monthly = reads.attribution_trend(Operator())
    assert [(p.period_start.month, p.scan_id, p.total_spend) for p in monthly] == [
        (2, Scan.objects.order_by("pk").first().pk, None),  # type: ignore[union-attr]
        (3, fixed.pk, bills.TOTAL),
    ]
    # The money sits on the account rows only, and matches the live attribution exactly.
    rows = ComplianceSnapshot.objects.filter(scan=fixed, total_spend__isnull=False)
    assert set(rows.values_list("dimension", flat=True)) == {DIM.ACCOUNT}
    live = reads.cost_attribution(Operator())
    assert (live.total_spend, live.attribution_gap) == (
        points[-1].total_spend,
        points[-1].attribution_gap,
    )


def test_attribution_trend_sums_only_the_viewers_accounts(
    billed: list[Scan], alice: User, bob: User
) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))
    points = reads.attribution_trend(alice, granularity="day", since=at(2, 0))
    assert [
        (p.total_spend, p.attributable_spend, p.attribution_gap, p.unattributable_spend)
        for p in points
    ] == [
        (bills.TOTAL - Decimal("88.00"), bills.ATTRIBUTABLE, Decimal("22.333"), Decimal("14.19")),
        (
            bills.TOTAL - Decimal("88.00"),
            bills.ATTRIBUTABLE + Decimal("19.000"),
            Decimal("3.333"),
            Decimal("14.19"),
        ),
    ]
    assert [p.total_spend for p in reads.attribution_trend(alice, ResourceFilter([A]))] == [
        None,
        bills.TOTAL - Decimal("88.00"),
    ]
    with pytest.raises(AccountNotVisible):
        reads.attribution_trend(alice, ResourceFilter(account_ids=[B]))
    # Costs were loaded, none of them bob's: zero, not unknown.
    assert [p.total_spend for p in reads.attribution_trend(bob, since=at(2, 0))] == [Decimal(0)]
    with pytest.raises(UnsupportedFilter):
        reads.attribution_trend(Operator(), ResourceFilter(regions=["us-east-1"]))
    with pytest.raises(UnsupportedFilter):
        reads.attribution_trend(Operator(), ResourceFilter(resource_types=["s3:bucket"]))
    with pytest.raises(HistoryError):
        reads.attribution_trend(Operator(), granularity="year")  # type: ignore[arg-type]


def test_attribution_trend_is_null_without_costs(accounts: dict[str, AwsAccount]) -> None:
    scan = finished(at(5))
    snap(scan, A, (1, 1, 1, 0))
    (point,) = reads.attribution_trend(Operator())
    assert (point.scan_id, point.cost_source, point.billing_period_start) == (scan.pk, None, None)
    assert point.total_spend is point.attributable_spend is point.attribution_gap is None


def test_finalise_stores_the_money_of_each_account(mocked_aws: None, tmp_path: Path) -> None:
    do_add_account(account_id=MOTO, name="prod", regions=["us-east-1"], acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.create_queue(QueueName="jobs", tags={"Owner": "bob@example.com"})
    rows = [
        bills.focus_row(MOTO, "us-east-1", "Amazon SQS", "jobs", "Usage", "1.25", "1.2500001"),
        bills.focus_row(MOTO, "", "Amazon SQS", "", "Tax", "0.10", "0.10"),
    ]
    do_import_costs(
        str(bills.write_csv(tmp_path / "f.csv", bills.FOCUS_HEADER, rows)), acting=Operator()
    )
    scan = execute_scan(do_request_scan(acting=Operator(), resource_types=["sqs:queue"]).pk)
    (point,) = reads.attribution_trend(Operator())
    assert (point.scan_id, point.cost_source, point.billing_period_start) == (
        scan.pk,
        "focus",
        bills.MAY.date(),
    )
    # The queue lacks required tags: its cost is gap; the tax cannot be attributed.
    assert (point.total_spend, point.attributable_spend, point.attribution_gap) == (
        Decimal("1.3500001"),
        Decimal(0),
        Decimal("1.2500001"),
    )
    assert point.unattributable_spend == Decimal("0.10")
