"""The stored costs (compliance.stored.costs) give exactly the figures of the attribution
computed in memory from the whole inventory, for every viewer, filter and source of money."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from compliance import reads
from compliance.core import costs
from compliance.models import (
    AwsAccount,
    CostExplorerFigure,
    CostLine,
    Resource,
    Scan,
    TaggingPolicy,
    Violation,
)
from compliance.models.inventory import CostAttributionState
from compliance.permissions.accounts import Operator, Viewer
from compliance.reads import listings
from compliance.reads import rankings as dashboard_figures
from compliance.reads.resources import ResourceFilter
from compliance.reads.violation_rules import violations_by_rule
from compliance.scans import execute_scan
from compliance.stored import costs as stored_costs
from compliance.stored.costs import matching, refresh
from compliance.tasks import refresh_stored_figures_task
from compliance.writes.accounts import do_add_account
from compliance.writes.costs import do_import_costs
from compliance.writes.exemptions import do_create_exemption
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.billing.bills import (
    BUCKET,
    CUR_HEADER,
    CUR_ROWS,
    FOCUS_HEADER,
    FOCUS_ROWS,
    I_AAA,
    I_BBB,
    I_CCC,
    MAY,
    ORDERS,
    A,
    B,
    build_estate,
    focus_row,
    write_csv,
)
from tests.compliance.policies import TEST_POLICY
from tests.conftest import grant

pytestmark = pytest.mark.django_db

T = TypeVar("T")
ARNS = [I_AAA, I_BBB, BUCKET, ORDERS, I_CCC, "arn:aws:s3:::not-in-the-inventory"]
APRIL = datetime(2024, 4, 1, tzinfo=UTC)
EC2 = "Amazon Elastic Compute Cloud - Compute"


@contextmanager
def without_stored_costs() -> Iterator[None]:
    """The selectors compute in memory, as they did before anything was stored."""
    state = CostAttributionState.objects.get()
    pk = state.pk
    state.delete()
    try:
        yield
    finally:
        state.pk = pk
        state.save(force_insert=True)


def stored_and_live(compute: Callable[[], T]) -> tuple[T, T]:
    stored = compute()
    with without_stored_costs():
        return stored, compute()


@pytest.fixture
def viewers(alice: User, bob: User, charlie: User) -> dict[str, Viewer]:
    """The estate of ``bills``, and who looks at it: every account (operator, and an admin),
    one account (alice: A), none (bob)."""
    build_estate()
    grant(alice, AwsAccount.objects.get(account_id=A))
    return {"operator": Operator(), "charlie": charlie, "alice": alice, "bob": bob}


def figures_of(viewer: Viewer) -> dict[str, Any]:
    """Every money figure the pages and tools show, for one viewer."""
    filters = [
        ResourceFilter(),
        ResourceFilter(regions=["eu-west-1"]),
        ResourceFilter(regions=["us-east-1"], resource_types=["ec2:instance"]),
        ResourceFilter(resource_types=["s3:bucket", costs.NO_RESOURCE]),
    ]
    if reads.cost_scope(viewer).everything and AwsAccount.objects.filter(account_id=B):
        filters.append(ResourceFilter(account_ids=[B]))
    rules = [
        violations_by_rule(viewer, where, violation_type=kind, tag_name=tag)
        for where in filters
        for kind, tag in [("", ""), ("missing_required_tag", ""), ("", "Owner")]
    ]
    costliest = dashboard_figures.costliest_violations(viewer)
    return {
        "attribution": [reads.cost_attribution(viewer, where) for where in filters],
        "resource_costs": reads.resource_costs(viewer, ARNS),
        "rules": rules,
        "costliest": [(row.violation.pk, row.cost_impact_monthly) for row in costliest],
    }


def listed_costs(viewer: Viewer) -> list[tuple[str, Decimal | None]]:
    page = listings.resource_page(viewer, listings.ResourceQuery(sort="-cost"))
    return [(row.arn, row.monthly_cost) for row in page.rows]


def assert_same_for_everyone(viewers: dict[str, Viewer]) -> None:
    for viewer in viewers.values():
        stored, live = stored_and_live(lambda v=viewer: figures_of(v))  # type: ignore[misc]
        assert stored == live


def answered_from_storage(viewer: Viewer, where: ResourceFilter | None = None) -> bool:
    where = where or ResourceFilter()
    found = stored_costs.attribution(
        reads.cost_scope(viewer, where.account_ids),
        None,
        regions=where.regions,
        resource_types=where.resource_types,
        now=timezone.now(),
    )
    return found is not None


def import_focus(tmp_path: Path, rows: list[list[str]] = FOCUS_ROWS) -> None:
    do_import_costs(str(write_csv(tmp_path / "focus.csv", FOCUS_HEADER, rows)), acting=Operator())


# --- The sources of money -----------------------------------------------------------------------


def test_a_focus_bill(tmp_path: Path, viewers: dict[str, Viewer]) -> None:
    import_focus(tmp_path)
    assert all(answered_from_storage(viewer) for viewer in viewers.values())
    assert_same_for_everyone(viewers)
    stored = dict(Resource.objects.values_list("arn", "monthly_cost"))
    assert stored == {
        I_AAA: Decimal("9.5712345"),
        I_BBB: Decimal("19.000"),  # by its bare id: 20.005 usage - 1.005 credit
        BUCKET: Decimal("3.333"),  # by the bucket name
        ORDERS: Decimal(0),
        I_CCC: Decimal("80.00"),
    }
    assert set(Resource.objects.values_list("cost_period_start", flat=True)) == {MAY}
    for viewer in viewers.values():
        assert stored_and_live(lambda v=viewer: listed_costs(v)) == (  # type: ignore[misc]
            listed_costs(viewer),
            listed_costs(viewer),
        )


def test_a_cur_bill(tmp_path: Path, viewers: dict[str, Viewer]) -> None:
    do_import_costs(str(write_csv(tmp_path / "cur.csv", CUR_HEADER, CUR_ROWS)), acting=Operator())
    assert answered_from_storage(Operator())
    assert reads.cost_attribution(Operator()).total_spend == Decimal("25.73")
    assert_same_for_everyone(viewers)


def test_a_cur_and_a_focus_bill_of_one_period(tmp_path: Path, viewers: dict[str, Viewer]) -> None:
    import_focus(tmp_path)
    do_import_costs(str(write_csv(tmp_path / "cur.csv", CUR_HEADER, CUR_ROWS)), acting=Operator())
    assert reads.cost_attribution(Operator()).cost_source == "cur"
    # Account B has only FOCUS lines: alone, its figures are FOCUS ones.
    assert reads.cost_attribution(Operator(), ResourceFilter(account_ids=[B])).cost_source == (
        "focus"
    )
    assert_same_for_everyone(viewers)


def cost_explorer_figures(start: datetime) -> None:
    """The May figures of test_cost_explorer, stored as the fetch stores them."""
    end = (start + timedelta(days=32)).replace(day=1)
    rows = [
        (A, "us-east-1", "service", "", EC2, "30.0000000001"),
        (A, "us-east-1", "service", "", "Amazon Simple Storage Service", "3.333"),
        (A, "us-east-1", "service", "", "Amazon Redshift", "7.77"),
        (A, "", "service", "", "Tax", "4.20"),
        (A, "us-east-1", "tag", "Owner", "", "22.333"),
        (A, "us-east-1", "tag", "Environment", "", "19"),
        (B, "eu-west-1", "service", "", EC2, "80.00"),
        (B, "eu-west-1", "tag", "Project", "", "80.00"),
    ]
    CostExplorerFigure.objects.bulk_create(
        CostExplorerFigure(
            period_start=start,
            period_end=end,
            account_id=account_id,
            region=region,
            dimension=dimension,
            tag_key=tag_key,
            key=key,
            amount=Decimal(amount),
            currency="USD",
        )
        for account_id, region, dimension, tag_key, key, amount in rows
    )
    stored_costs.refresh_costs()


def test_cost_explorer_estimates(viewers: dict[str, Viewer]) -> None:
    cost_explorer_figures(MAY)
    assert answered_from_storage(Operator())
    result = reads.cost_attribution(Operator())
    assert (result.cost_source, result.attributable_spend) == ("estimate", Decimal("15.0000000001"))
    assert Resource.objects.get(arn=I_BBB).monthly_cost == Decimal(15)
    assert_same_for_everyone(viewers)


def test_an_estimate_later_than_the_bill_wins_and_the_bill_stays_reachable(
    tmp_path: Path, viewers: dict[str, Viewer]
) -> None:
    april = [
        [*row[:1], "2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z", *row[3:]] for row in FOCUS_ROWS
    ]
    import_focus(tmp_path, april)
    cost_explorer_figures(MAY)
    assert reads.cost_attribution(Operator()).cost_source == "estimate"
    assert_same_for_everyone(viewers)
    # An older period is not stored: it is computed, and the same either way.
    stored, live = stored_and_live(lambda: reads.cost_attribution(Operator(), period=APRIL))
    assert stored == live
    assert stored.cost_source == "focus"


# --- What only the matching rules decide ---------------------------------------------------------


def queue(account: str, region: str, arn: str, resource_type: str = "sqs:queue") -> None:
    now = timezone.now()
    Resource.objects.create(
        arn=arn,
        account=AwsAccount.objects.get(account_id=account),
        region=region,
        resource_type=resource_type,
        first_seen_at=now,
        last_seen_at=now,
        last_seen_scan=Scan.objects.get(),
        is_compliant=True,
    )


def test_ambiguous_bare_ids_are_settled_by_region_or_left_unmatched(
    tmp_path: Path, viewers: dict[str, Viewer]
) -> None:
    east = f"arn:aws:sqs:us-east-1:{A}:jobs"
    queue(A, "us-east-1", east)
    queue(A, "eu-west-1", f"arn:aws:sqs:eu-west-1:{A}:jobs")
    queue(A, "eu-west-1", f"arn:aws:dynamodb:eu-west-1:{A}:table/jobs", "dynamodb:table")
    rows = [
        *FOCUS_ROWS,
        focus_row(A, "us-east-1", "Amazon SQS", "jobs", "Usage", "1.5", "1.5"),
        focus_row(A, "eu-west-1", "Amazon SQS", "jobs", "Usage", "2.25", "2.25"),
    ]
    import_focus(tmp_path, rows)
    assert Resource.objects.get(arn=east).monthly_cost == Decimal("1.5")
    result = reads.cost_attribution(Operator())
    assert result.unmatched_resource_spend == Decimal("5.55") + Decimal("2.25")
    assert_same_for_everyone(viewers)


def test_a_charge_naming_another_accounts_resource(
    tmp_path: Path, viewers: dict[str, Viewer], charlie: User
) -> None:
    rows = [*FOCUS_ROWS, focus_row(B, "us-east-1", "Amazon EC2", I_AAA, "Usage", "7", "7")]
    import_focus(tmp_path, rows)
    # Whoever sees both accounts gets it from storage; alice (A only) does not see B's line.
    assert answered_from_storage(Operator())
    assert not answered_from_storage(charlie, ResourceFilter(account_ids=[B]))
    assert_same_for_everyone(viewers)


def test_exemptions_made_since_are_applied(
    tmp_path: Path, viewers: dict[str, Viewer], charlie: User
) -> None:
    import_focus(tmp_path)
    do_create_exemption(
        reason="sandbox account, tagged by its owner next quarter",
        owner="charlie",
        expires_at=timezone.now() + timedelta(days=30),
        account_id=B,
        acting=Operator(),
    )
    assert not answered_from_storage(Operator())
    assert_same_for_everyone(viewers)
    refresh_stored_figures_task.call()  # queued by the exemption
    assert answered_from_storage(Operator())
    assert_same_for_everyone(viewers)


def test_nothing_loaded_yet(viewers: dict[str, Viewer]) -> None:
    stored_costs.refresh_costs()
    assert set(Resource.objects.values_list("monthly_cost", flat=True)) == {None}
    assert answered_from_storage(Operator())
    assert reads.cost_attribution(Operator()).cost_source is None
    assert_same_for_everyone(viewers)


def test_writes_outside_a_refresh_are_noticed_and_empty_ones_are_not(
    tmp_path: Path, viewers: dict[str, Viewer]
) -> None:
    import_focus(tmp_path)
    Violation.objects.filter(pk=-1).delete()  # a statement that changes no row
    # A column no stored figure reads (a name is read by the allocation rules).
    Resource.objects.filter(arn=I_AAA).update(last_seen_at=timezone.now())
    assert answered_from_storage(Operator())
    Violation.objects.filter(resource__arn=I_BBB).delete()
    assert not answered_from_storage(Operator())
    assert_same_for_everyone(viewers)
    stored_costs.refresh_costs()
    assert answered_from_storage(Operator())
    assert reads.cost_attribution(Operator()).attribution_gap == Decimal("83.333")


# --- When it is stored -------------------------------------------------------------------------


def test_finalising_a_scan_costs_the_resources_it_finds(
    mocked_aws: None, tmp_path: Path, charlie: User
) -> None:
    moto_account = "123456789012"
    do_add_account(account_id=moto_account, name="prod", regions=["us-east-1"], acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    assert TaggingPolicy.objects.filter(is_active=True).exists()
    boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="jobs")
    rows = [
        focus_row(moto_account, "us-east-1", "Amazon SQS", "jobs", "Usage", "1.25", "1.2500001"),
        focus_row(moto_account, "", "Amazon SQS", "", "Tax", "0.10", "0.10"),
    ]
    import_focus(tmp_path, rows)
    assert reads.cost_attribution(Operator()).unmatched_resource_spend == Decimal("1.2500001")
    execute_scan(do_request_scan(acting=Operator(), resource_types=["sqs:queue"]).pk)
    (jobs,) = Resource.objects.all()
    assert jobs.monthly_cost == Decimal("1.2500001")
    assert answered_from_storage(Operator())
    assert_same_for_everyone({"operator": Operator(), "charlie": charlie})


def test_the_refresh_streams_in_chunks(
    tmp_path: Path, viewers: dict[str, Viewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks and update batches smaller than the estate give the same figures."""
    for n in range(7):
        queue(A, "us-east-1", f"arn:aws:sqs:us-east-1:{A}:q{n}")
    rows = [
        *FOCUS_ROWS,
        *(
            focus_row(A, "us-east-1", "Amazon SQS", f"q{n}", "Usage", f"{n}.5", f"{n}.5")
            for n in range(7)
        ),
    ]
    monkeypatch.setattr(matching, "CHUNK", 2)
    monkeypatch.setattr(refresh, "CHUNK", 2)
    monkeypatch.setattr(refresh, "UPDATE_BATCH", 3)
    import_focus(tmp_path, rows)
    assert Resource.objects.get(arn=f"arn:aws:sqs:us-east-1:{A}:q6").monthly_cost == Decimal("6.5")
    assert_same_for_everyone(viewers)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
def test_an_import_refreshes_the_planner_statistics_of_the_bill_lines(tmp_path: Path) -> None:
    import_focus(tmp_path)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'compliance_costline'")
        (estimated,) = cursor.fetchone()
    # Sampled within the import's transaction: a small table is read whole, so exactly.
    assert estimated == CostLine.objects.count() > 0


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 10])
def test_the_costliest_are_ranked_by_cost_then_arn_in_code_point_order(limit: int) -> None:
    account = do_add_account(account_id=A, name="prod", acting=Operator())
    costs = {
        "arn:aws:sqs:eu-west-1:111111111111:b": Decimal("7.50"),
        "arn:aws:sqs:eu-west-1:111111111111:B": Decimal("7.50"),  # "B" < "b" in code points
        "arn:aws:sqs:eu-west-1:111111111111:a-z": Decimal("7.50"),
        "arn:aws:sqs:eu-west-1:111111111111:top": Decimal("99"),
        "arn:aws:sqs:eu-west-1:111111111111:low": Decimal("0.01"),
        "arn:aws:sqs:eu-west-1:111111111111:free": Decimal("0"),
    }
    now = timezone.now()
    Resource.objects.bulk_create(
        Resource(
            arn=arn,
            account=account,
            region="eu-west-1",
            resource_type="sqs:queue",
            name=arn.rsplit(":", 1)[1],
            first_seen_at=now,
            last_seen_at=now,
            monthly_cost=cost,
        )
        for arn, cost in costs.items()
    )
    costed = Resource.objects.filter(monthly_cost__gt=0)
    expected = sorted(
        ((arn, cost) for arn, cost in costs.items() if cost > 0), key=lambda x: (-x[1], x[0])
    )
    assert stored_costs.top_costed(costed, limit) == expected[:limit]
