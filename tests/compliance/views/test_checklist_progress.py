"""The checklist page while a run it queued is under way: its state (queued, running with N of M
items evaluated, failed) rendered by the server, followed by the page's own script."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.checklist.items import ITEMS
from compliance.models import AuditEvent, ChecklistRun
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.tasks import run_security_checklist_task
from compliance.writes.checklist import STALE_AFTER, do_run_security_checklist
from tests.compliance.views.conftest import person

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/checklist/"
SCRIPT = '<script src="/static/js/checklist_progress.js" defer></script>'


def progress_section(html: str) -> str:
    match = re.search(r"<section class=\"run-progress\"(.*?)</section>", html, flags=re.S)
    assert match is not None
    return match.group(0)


def test_a_queued_run_shows_as_queued_and_the_page_follows_it() -> None:
    client = person("admin-user", Role.ADMIN)
    client.post(URL)
    run = ChecklistRun.objects.get()
    html = client.get(URL).content.decode()
    section = progress_section(html)
    assert f'data-run-id="{run.pk}" data-run-status="queued"' in section
    assert '<strong class="status status-queued">queued</strong>' in section
    assert "Waiting for a task worker (<code>manage.py db_worker</code>)" in section
    assert SCRIPT in html
    assert '<button type="submit" disabled>Run checks now</button>' in html
    assert 'aria-live="polite" data-checklist-announce' in html
    # Strict CSP: the only script is the page's own file; no inline style or handler.
    assert re.findall(r"<script\b[^>]*>", html) == [SCRIPT.removesuffix("</script>")]
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_a_running_run_shows_how_many_items_are_evaluated() -> None:
    client = person("admin-user", Role.ADMIN)
    client.post(URL)
    ChecklistRun.objects.update(status="running", items_done=7, heartbeat_at=timezone.now())
    html = client.get(URL).content.decode()
    section = progress_section(html)
    total = len(ITEMS)
    assert f'data-items-done="7" data-items-total="{total}"' in section
    assert f'<progress id="run-progress" max="{total}" value="7">7 of {total}</progress>' in (
        section
    )
    assert f"<span>7 of {total} items evaluated</span>" in section
    assert SCRIPT in html


def test_a_finished_run_replaces_the_progress_with_its_results() -> None:
    client = person("admin-user", Role.ADMIN)
    client.post(URL)
    run = ChecklistRun.objects.get()
    run_security_checklist_task.call(run.pk)
    html = client.get(URL).content.decode()
    assert "data-checklist-progress" not in html
    assert SCRIPT not in html
    assert f"Run #{run.pk}, checked" in html
    assert '<button type="submit">Run checks now</button>' in html
    history = html.split('id="history"', 1)[1]
    assert f'<th scope="row">#{run.pk}</th>\n      <td>finished</td>' in history


def test_reading_the_page_fails_a_stale_run_and_shows_why() -> None:
    finished, _results = do_run_security_checklist(acting=Operator())
    client = person("admin-user", Role.ADMIN)
    client.post(URL)
    run = ChecklistRun.objects.exclude(pk=finished.pk).get()
    then = timezone.now() - STALE_AFTER - timedelta(minutes=1)
    ChecklistRun.objects.filter(pk=run.pk).update(
        status="running", heartbeat_at=then, checked_at=then, items_done=3
    )

    html = client.get(URL).content.decode()

    run.refresh_from_db()
    assert run.status == "failed"
    section = progress_section(html)
    assert 'data-run-status="failed"' in section
    assert "<strong>The run failed:</strong> no sign of life for more than 60 minutes" in section
    assert SCRIPT not in html
    # The latest finished run is still what the page shows below.
    assert f"Run #{finished.pk}, checked" in html
    assert AuditEvent.objects.filter(
        event_type="checklist.evaluated", outcome="error", target=f"checklist run {run.pk}"
    ).exists()


def test_a_second_click_while_a_run_is_under_way_says_why_nothing_was_queued() -> None:
    client = person("admin-user", Role.ADMIN)
    client.post(URL)
    run = ChecklistRun.objects.get()
    response = client.post(URL, follow=True)
    assert (
        f"The checklist was not run: checklist run #{run.pk} is already queued; wait for it "
        "to finish." in response.content.decode()
    )
    assert ChecklistRun.objects.count() == 1
