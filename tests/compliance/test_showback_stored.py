"""Showback's stored sums (compliance.stored.showback) give exactly the figures computed from the
bill lines and the inventory, for every question they answer, and stop answering when an input
changes without a refresh."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from compliance.models import (
    AllocationRule,
    AwsAccount,
    Resource,
    SharedCostRule,
    ShowbackFigure,
    ShowbackState,
)
from compliance.permissions.accounts import Operator
from compliance.reads import showback
from compliance.reads.showback import _answer, _Filters, _stored_answer
from compliance.stored import showback as stored_showback
from compliance.stored.showback import refresh_showback, stored_keys
from compliance.tasks import refresh_showback_task
from compliance.writes.allocation import do_save_allocation_rule, do_save_shared_cost_rule
from compliance.writes.policy import do_import_policy
from tests.compliance.billing.bills import I_BBB, A, B
from tests.compliance.test_showback import KEY, build_showback_estate
from tests.conftest import grant

pytestmark = pytest.mark.django_db


def live(viewer: object, tag_key: str = KEY, **filters: object) -> showback.Showback:
    """The showback computed from the lines, whatever is stored."""
    state = ShowbackState.objects.filter(pk=1)
    saved = list(state.values_list("tag_keys", flat=True))
    state.update(tag_keys=[])
    try:
        return showback.spend_by_tag(viewer, tag_key, **filters)  # type: ignore[arg-type]
    finally:
        if saved:
            state.update(tag_keys=saved[0])


def stored(viewer: object, tag_key: str = KEY, **filters: object) -> showback.Showback:
    period = filters.get("period")
    narrowed = _Filters.of(filters.get("accounts"), None, None, filters.get("resource_types"))  # type: ignore[arg-type]
    assert _stored_answer(viewer, tag_key, period, narrowed) is not None  # type: ignore[arg-type]
    return showback.spend_by_tag(viewer, tag_key, **filters)  # type: ignore[arg-type]


def same(a: showback.Showback, b: showback.Showback) -> None:
    assert replace(a, scan=None) == replace(b, scan=None)


@pytest.fixture
def estate(tmp_path: Path) -> None:
    build_showback_estate(tmp_path)
    do_save_allocation_rule(
        AllocationRule(tag_key=KEY, name="account B", value="cc-200", accounts=[B], position=1),
        acting=Operator(),
    )
    do_save_allocation_rule(
        AllocationRule(tag_key=KEY, name="queues", value="cc-100", resource_types=["sqs:queue"]),
        acting=Operator(),
    )
    do_save_shared_cost_rule(
        SharedCostRule(tag_key=KEY, name="tax", charge_categories=["Tax"], mode="proportional"),
        acting=Operator(),
    )
    refresh_showback()


def test_the_policy_and_rule_keys_are_stored(estate: None) -> None:
    assert stored_keys() == ["CostCenter", "Environment", "Owner", "Project"]
    assert ShowbackState.objects.get().tag_keys == stored_keys()


def test_stored_equals_computed_for_every_question(estate: None) -> None:
    operator = Operator()
    for filters in (
        {},
        {"accounts": [A]},
        {"accounts": [B]},
        {"resource_types": ["ec2:instance"]},
        {"period": date(2024, 5, 1)},
    ):
        same(stored(operator, **filters), live(operator, **filters))
    for key in ("Owner", "Environment"):
        same(stored(operator, key), live(operator, key))


def test_the_stored_answer_is_exact_and_adds_up(estate: None) -> None:
    answer = stored(Operator())
    assert answer.total_spend == Decimal("140.8782345")
    allocated = answer.allocated
    assert allocated is not None
    assert answer.total_spend == (
        sum((r.allocated_spend + r.shared_spend for r in answer.rows), Decimal(0))
        + allocated.untagged_spend
        + allocated.invalid_spend
        + allocated.unattributable_spend
        + allocated.unmatched_resource_spend
    )
    # The queue (untagged as written) goes to cc-100 by the "queues" rule.
    cc_100 = next(r for r in answer.rows if r.value == "cc-100")
    assert cc_100.allocated_by == (("queues", Decimal("1.234")),)
    assert cc_100.allocated_resource_count == cc_100.resource_count + 1


def test_a_viewer_of_one_account_gets_the_stored_figures_of_it(estate: None, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))
    same(stored(alice), live(alice))
    answer = stored(alice)
    assert {r.value for r in answer.rows if r.spend} == {"cc-100"}


def test_the_trend_reads_the_stored_periods(estate: None) -> None:
    operator = Operator()
    stored_trend = showback.spend_by_tag_trend(operator, KEY)
    ShowbackState.objects.update(tag_keys=[])
    assert stored_trend == showback.spend_by_tag_trend(operator, KEY)


def test_a_region_or_service_filter_is_computed(estate: None) -> None:
    narrowed = _Filters.of(None, ["us-east-1"], None, None)
    assert _stored_answer(Operator(), KEY, None, narrowed) is None
    assert _answer(Operator(), KEY, None, narrowed).stored is None


def test_a_change_without_a_refresh_is_not_answered_from_the_store(estate: None) -> None:
    # A resource goes without a refresh: the database's change counter moves, so the stored
    # figures stop answering and the computed ones are right.
    Resource.objects.filter(arn=I_BBB).update(gone_since=timezone.now())
    assert ShowbackState.objects.get().fingerprint != showback.showback_fingerprint()
    assert _stored_answer(Operator(), KEY, None, _Filters()) is None
    answer = showback.spend_by_tag(Operator(), KEY)
    assert next(r for r in answer.rows if r.value == "cc-100").resource_count == 1
    # An allocation change queues the refresh; until the task has run, computed.
    do_save_allocation_rule(AllocationRule.objects.get(name="queues"), acting=Operator())
    assert _stored_answer(Operator(), KEY, None, _Filters()) is None
    assert DBTaskResult.objects.filter(task_path="compliance.tasks.refresh_showback_task").exists()
    refresh_showback_task.call()
    assert _stored_answer(Operator(), KEY, None, _Filters()) is not None
    same(showback.spend_by_tag(Operator(), KEY), live(Operator()))


def test_a_change_made_while_the_sums_are_computed_is_not_answered_from_them(
    estate: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed = showback.showback_cells

    def cells_then_a_change(keys: list[str]) -> dict[str, showback.StoredCells]:
        found = computed(keys)
        # What another writer commits once the inputs are read: a resource re-tagged.
        Resource.objects.filter(arn=I_BBB).update(tags={KEY: "cc-200"})
        return found

    monkeypatch.setattr(stored_showback, "showback_cells", cells_then_a_change)
    refresh_showback()
    assert _stored_answer(Operator(), KEY, None, _Filters()) is None
    answer = showback.spend_by_tag(Operator(), KEY)
    assert next(r for r in answer.rows if r.value == "cc-200").resource_count == 2


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_store_one_set_of_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: the second refresh waits anyway")
    build_showback_estate(tmp_path)
    refresh_showback()
    expected = showback.spend_by_tag(Operator(), KEY)
    count = ShowbackFigure.objects.count()
    computed = showback.showback_cells
    first_inside = threading.Event()

    def slow_cells(keys: list[str]) -> dict[str, showback.StoredCells]:
        found = computed(keys)
        if threading.current_thread().name == "first":
            first_inside.set()
            time.sleep(1)  # a refresh of a large estate takes a while
        return found

    monkeypatch.setattr(stored_showback, "showback_cells", slow_cells)
    failures: list[BaseException] = []

    def refresh() -> None:
        try:
            refresh_showback()
        except BaseException as exc:  # reported below, with the thread's failure
            failures.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=refresh, name="first")
    second = threading.Thread(target=refresh, name="second")
    first.start()
    assert first_inside.wait(30)
    second.start()
    first.join(60)
    second.join(60)
    assert failures == []
    assert ShowbackFigure.objects.count() == count
    assert _stored_answer(Operator(), KEY, None, _Filters()) is not None
    same(showback.spend_by_tag(Operator(), KEY), expected)


def test_a_rule_whose_value_a_new_policy_refuses_gives_nothing(estate: None) -> None:
    policy = {
        "required_tags": [{"name": KEY, "allowed_values": ["cc-200", "cc-300"]}],
        "optional_tags": [],
    }
    do_import_policy(json.dumps(policy), acting=Operator())
    answer = showback.spend_by_tag(Operator(), KEY)
    assert _stored_answer(Operator(), KEY, None, _Filters()) is not None
    # "queues" gives cc-100, which the policy now refuses: the queue stays untagged.
    assert all(name != "queues" for r in answer.rows for name, _ in r.allocated_by)
    assert "cc-100" not in {r.value for r in answer.rows}
    assert answer.allocated is not None
    assert (answer.allocated.rule_count, answer.allocated.untagged_spend) == (1, Decimal("1.234"))
    same(answer, live(Operator()))
