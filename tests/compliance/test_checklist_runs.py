"""Checklist runs queued for a task worker: queueing changes nothing but the queued run, the task
evaluates and stores it with its progress, and a run that can no longer finish is failed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from compliance.checklist.evaluation import latest_report
from compliance.checklist.items import ITEMS
from compliance.models import AuditEvent, ChecklistResult, ChecklistRun
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.tasks import run_security_checklist_task
from compliance.writes import checklist as checklist_writes
from compliance.writes.checklist import (
    STALE_AFTER,
    do_evaluate_checklist_run,
    do_fail_stale_checklist_runs,
    do_run_security_checklist,
    do_start_security_checklist,
)
from compliance.writes.refusals import ActionError

# Evaluating probes the application through ASGI, which closes the connection at the end of each
# request, and the task is enqueued on commit: tests run outside a wrapping transaction.
pytestmark = pytest.mark.django_db(transaction=True)

TASK_PATH = "compliance.tasks.run_security_checklist_task"


def admin_user(username: str = "admin-user") -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "a-long-password-1")
    assign_role(user, Role.ADMIN)
    return User.objects.get(pk=user.pk)  # permissions read afresh


def test_starting_queues_the_task_and_changes_nothing_else_until_it_runs() -> None:
    finished, _results = do_run_security_checklist(acting=Operator())
    admin = admin_user()
    events_before = AuditEvent.objects.count()

    run = do_start_security_checklist(acting=admin, interface="web")

    run.refresh_from_db()
    assert (run.status, run.items_done, run.items_total) == ("queued", 0, len(ITEMS))
    assert (run.requested_by, run.interface, run.heartbeat_at) == ("admin-user", "web", None)
    assert not ChecklistResult.objects.filter(run=run).exists()
    task = DBTaskResult.objects.get()
    assert (task.task_path, task.args_kwargs["args"]) == (TASK_PATH, [run.pk])
    assert task.status == "READY"
    event = AuditEvent.objects.order_by("-pk")[0]
    assert AuditEvent.objects.count() == events_before + 1
    assert (event.event_type, event.actor_id, event.target) == (
        "checklist.evaluated",
        admin.pk,
        f"checklist run {run.pk}",
    )
    assert (event.outcome, event.detail) == ("success", {"status": "queued"})
    # The MCP tool and the admin keep answering from the latest finished run.
    assert latest_report()["run_id"] == finished.pk


def test_running_the_task_evaluates_every_item_and_stores_the_run() -> None:
    run = do_start_security_checklist(acting=admin_user(), interface="web")

    assert run_security_checklist_task.call(run.pk) == f"checklist run #{run.pk} finished"

    run.refresh_from_db()
    assert (run.status, run.items_done, run.items_total, run.error) == (
        "finished",
        len(ITEMS),
        len(ITEMS),
        "",
    )
    stored = list(ChecklistResult.objects.filter(run=run).values_list("item_id", flat=True))
    assert stored == [item.id for item in ITEMS]
    report = latest_report()
    assert (report["run_id"], report["summary"]["total"]) == (run.pk, len(ITEMS))
    # Static credentials from the environment: the verdict the command gives too.
    assert "credentials.aws_role" in report["summary"]["required_failing"]
    finished = AuditEvent.objects.filter(event_type="checklist.evaluated").order_by("pk")[1]
    assert (finished.actor_label, finished.interface, finished.outcome) == (
        "system",
        "task",
        "success",
    )
    assert finished.detail["requested_by"] == "admin-user"
    assert finished.detail["total"] == len(ITEMS)
    assert finished.detail["fail"] == report["summary"]["fail"]


def test_the_run_shows_how_many_items_are_done_while_it_runs() -> None:
    """Read from inside the evaluation, when the first item that asks for an AWS session runs:
    the items before it are counted, and the run is alive."""
    run = do_start_security_checklist(acting=admin_user(), interface="web")
    first_aws = next(i for i, item in enumerate(ITEMS) if item.id == "credentials.aws_role")
    seen: list[tuple[str, int, int]] = []

    def session_for(target: Any) -> boto3.session.Session:
        now = ChecklistRun.objects.get(pk=run.pk)
        seen.append((now.status, now.items_done, now.items_total))
        assert now.heartbeat_at is not None
        return boto3.session.Session()

    do_evaluate_checklist_run(run.pk, session_for=session_for)

    assert seen[0] == ("running", first_aws, len(ITEMS))


def test_a_run_already_taken_or_ended_is_not_evaluated_again() -> None:
    run = do_start_security_checklist(acting=admin_user(), interface="web")
    run_security_checklist_task.call(run.pk)
    assert run_security_checklist_task.call(run.pk) == f"checklist run #{run.pk} finished"
    assert ChecklistResult.objects.filter(run=run).count() == len(ITEMS)
    assert AuditEvent.objects.filter(event_type="checklist.evaluated").count() == 2


def test_a_run_whose_task_fails_is_failed_not_left_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = do_start_security_checklist(acting=admin_user(), interface="web")

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("worker lost its footing")

    monkeypatch.setattr(checklist_writes, "evaluate", broken)
    with pytest.raises(RuntimeError):
        run_security_checklist_task.call(run.pk)

    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "stopped: RuntimeError")
    assert not ChecklistResult.objects.filter(run=run).exists()
    event = AuditEvent.objects.filter(event_type="checklist.evaluated").order_by("-pk")[0]
    assert (event.outcome, event.actor_label, event.detail["reason"]) == (
        "error",
        "system",
        "RuntimeError",
    )


def _age(run: ChecklistRun, by: timedelta, *, running: bool = False) -> None:
    then = timezone.now() - by
    ChecklistRun.objects.filter(pk=run.pk).update(
        checked_at=then,
        status="running" if running else "queued",
        heartbeat_at=then if running else None,
        items_done=5 if running else 0,
    )


def test_a_queued_run_no_worker_took_up_is_failed_after_the_limit() -> None:
    run = do_start_security_checklist(acting=admin_user(), interface="web")
    _age(run, STALE_AFTER - timedelta(minutes=5))
    assert do_fail_stale_checklist_runs() == []
    _age(run, STALE_AFTER + timedelta(minutes=5))

    assert do_fail_stale_checklist_runs() == [run.pk]

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == (
        "no task worker took it up within 60 minutes (is manage.py db_worker running?)"
    )
    event = AuditEvent.objects.filter(event_type="checklist.evaluated").order_by("-pk")[0]
    assert (event.outcome, event.actor_label, event.target) == (
        "error",
        "system",
        f"checklist run {run.pk}",
    )
    assert do_fail_stale_checklist_runs() == []  # failed and audited once
    # Its task, if a worker ever takes it up, leaves it failed.
    assert run_security_checklist_task.call(run.pk) == f"checklist run #{run.pk} failed"
    assert not ChecklistResult.objects.filter(run=run).exists()


def test_a_running_run_silent_past_the_limit_is_failed() -> None:
    run = do_start_security_checklist(acting=admin_user(), interface="web")
    _age(run, STALE_AFTER + timedelta(minutes=1), running=True)

    assert do_fail_stale_checklist_runs() == [run.pk]

    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == (
        f"no sign of life for more than 60 minutes after 5 of {len(ITEMS)} items; "
        "the worker running it was lost"
    )


def test_a_new_request_fails_a_stale_run_first_and_queues_a_new_one() -> None:
    admin = admin_user()
    stale = do_start_security_checklist(acting=admin, interface="web")
    _age(stale, STALE_AFTER + timedelta(minutes=1), running=True)

    fresh = do_start_security_checklist(acting=admin, interface="web")

    stale.refresh_from_db()
    assert stale.status == "failed"
    assert (fresh.pk != stale.pk, fresh.status) == (True, "queued")
    assert DBTaskResult.objects.count() == 2


def test_a_second_request_while_a_run_is_under_way_is_refused_and_audited() -> None:
    admin = admin_user()
    run = do_start_security_checklist(acting=admin, interface="web")

    with pytest.raises(ActionError, match=f"checklist run #{run.pk} is already queued"):
        do_start_security_checklist(acting=admin, interface="web")

    assert list(ChecklistRun.objects.values_list("pk", flat=True)) == [run.pk]
    assert DBTaskResult.objects.count() == 1
    refused = AuditEvent.objects.get(outcome="denied")
    assert (refused.event_type, refused.actor_id, refused.target) == (
        "checklist.evaluated",
        admin.pk,
        f"checklist run {run.pk}",
    )


@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.ANALYST])
def test_a_role_that_may_not_run_the_checklist_is_refused_by_the_write(
    role: Role | None,
) -> None:
    user = User.objects.create_user("vera", "vera@example.com", "a-long-password-1")
    assign_role(user, role)
    user = User.objects.get(pk=user.pk)

    with pytest.raises(ActionError, match="run the security checklist"):
        do_start_security_checklist(acting=user, interface="web")

    assert not ChecklistRun.objects.exists()
    assert not DBTaskResult.objects.exists()
    refused = AuditEvent.objects.get()
    assert (refused.event_type, refused.outcome, refused.actor_id) == (
        "auth.permission_denied",
        "denied",
        user.pk,
    )


def test_the_command_still_evaluates_in_process_and_stores_a_finished_run() -> None:
    with pytest.raises(SystemExit):
        call_command("security_checklist", "--json", stdout=_Discard())
    run = ChecklistRun.objects.get()
    assert (run.status, run.items_done, run.items_total) == ("finished", len(ITEMS), len(ITEMS))
    assert not DBTaskResult.objects.exists()
    assert latest_report()["run_id"] == run.pk


class _Discard:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass
