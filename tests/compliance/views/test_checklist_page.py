"""The security checklist page: the latest run by section, attestations, recent runs, and the
"Run checks now" button, for administrators only."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from compliance.checklist.evaluation import latest_report
from compliance.checklist.items import ITEMS
from compliance.models import Attestation, AuditEvent, AwsAccount, ChecklistRun
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.tasks import run_security_checklist_task
from compliance.writes.checklist import do_attest_checklist_item, do_run_security_checklist
from tests.compliance.views.conftest import person, signed_in

# Running the checklist probes the application through ASGI, off the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)

URL = "/checklist/"
SECTIONS = [
    "Authentication",
    "Network",
    "Application",
    "Credentials",
    "Monitoring",
    "FinOps",
    "Incident response",
]


def row_of(html: str, item_id: str) -> str:
    """The table row of one checklist item."""
    match = re.search(
        rf'<tr>\s*<th scope="row">[^<]*<br><code class="item-id">{re.escape(item_id)}</code>'
        r"</th>(.*?)</tr>",
        html,
        flags=re.S,
    )
    assert match is not None, item_id
    return match.group(1)


def test_only_administrators_open_the_page(db: None) -> None:
    for role in (None, Role.VIEWER, Role.ANALYST):
        client = person(f"user-{role or 'none'}", role)
        assert client.get(URL).status_code == 403
        assert client.post(URL).status_code == 403
    assert not ChecklistRun.objects.exists()
    client = person("admin-user", Role.ADMIN)
    assert client.get(URL).status_code == 200
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous["Location"]


def test_before_any_run_the_page_says_how_to_run_it(db: None) -> None:
    client = person("admin-user", Role.ADMIN)
    html = client.get(URL).content.decode()
    assert "The checklist has not been run yet" in html
    assert "python manage.py security_checklist" in html
    assert "No run yet." in html


def test_latest_run_is_shown_by_section_with_status_as_text_and_class(db: None) -> None:
    run, _results = do_run_security_checklist(acting=Operator())
    report = latest_report()
    client = person("admin-user", Role.ADMIN)
    html = client.get(URL).content.decode()
    headings = re.findall(r'<h2 id="section-\d+">([^<]+)</h2>', html)
    assert headings == SECTIONS
    assert f"Run #{run.pk}, checked" in html
    for item in report["items"]:
        cells = row_of(html, item["id"])
        status = item["status"]
        assert f'<span class="status status-{status}">{status}</span>' in cells
        assert ("Required" if item["required"] else "Optional") in cells
    # Static credentials from the environment: a required item failing, said in words.
    assert "credentials.aws_role" in report["summary"]["required_failing"]
    assert "<strong>Not ready:</strong>" in html
    summary = report["summary"]
    assert f"<dt>Items</dt><dd>{len(ITEMS)}</dd>" in html
    assert f'<div class="status-fail"><dt>Fail</dt><dd>{summary["fail"]}</dd></div>' in html
    assert f'<div class="status-pass"><dt>Pass</dt><dd>{summary["pass"]}</dd></div>' in html


def test_attestations_show_who_when_expiry_and_link(db: None) -> None:
    expires = timezone.now() + timedelta(days=90)
    do_attest_checklist_item(
        "incident.contacts",
        evidence="On-call list reviewed",
        link="https://wiki.example.com/on-call",
        expires_at=expires,
        acting=Operator(label="ops-lead"),
    )
    do_run_security_checklist(acting=Operator())
    client = person("admin-user", Role.ADMIN)
    html = client.get(URL).content.decode()
    assert '<span class="status status-attested">attested</span>' in row_of(
        html, "incident.contacts"
    )
    attestations = html.split('id="attestations"', 1)[1].split("</table>", 1)[0]
    contacts = row_of(attestations, "incident.contacts")
    assert '<span class="status status-attested">current</span>' in contacts
    assert "<td>ops-lead</td>" in contacts
    assert f"<td>{expires:%Y-%m-%d}</td>" in contacts
    assert "On-call list reviewed" in contacts
    assert 'href="https://wiki.example.com/on-call"' in contacts
    assert "never attested" in row_of(attestations, "incident.runbook")
    assert 'href="/admin/compliance/attestation/add/?item_id=incident.runbook"' in html


def test_an_attestation_expired_since_the_run_reads_expired(db: None) -> None:
    do_attest_checklist_item(
        "monitoring.alerts",
        evidence="CloudWatch alarms",
        expires_at=timezone.now() + timedelta(days=1),
        acting=Operator(),
    )
    do_run_security_checklist(acting=Operator())
    # A day later, without a new run (moving the clock would end the test's session instead).
    Attestation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client = person("admin-user", Role.ADMIN)
    html = client.get(URL).content.decode()
    assert '<span class="status status-expired">expired</span>' in row_of(html, "monitoring.alerts")
    attestations = html.split('id="attestations"', 1)[1]
    assert '<span class="status status-expired">expired</span>' in row_of(
        attestations, "monitoring.alerts"
    )


def test_recent_runs_count_each_status(db: None) -> None:
    first, _ = do_run_security_checklist(acting=Operator())
    second, _ = do_run_security_checklist(acting=Operator(label="cron"))
    client = person("admin-user", Role.ADMIN)
    html = client.get(URL).content.decode()
    history = html.split('id="history"', 1)[1]
    runs = re.findall(r'<th scope="row">#(\d+)</th>', history)
    assert runs == [str(second.pk), str(first.pk)]
    counts = latest_report()["summary"]
    row = history.split(f"#{second.pk}</th>", 1)[1].split("</tr>", 1)[0]
    numbers = re.findall(r'<td class="num">(\d+)</td>', row)
    assert numbers == [
        str(counts[status])
        for status in ("pass", "fail", "attention", "attested", "expired", "unknown")
    ]
    assert "cron (cli)" in row


def test_run_checks_now_queues_a_run_audited_as_the_admin_and_the_task_stores_it(
    db: None,
) -> None:
    client = person("admin-user", Role.ADMIN)
    admin = User.objects.get(username="admin-user")
    response = client.post(URL)
    assert response.status_code == 302
    assert response["Location"] == URL
    run = ChecklistRun.objects.get()
    assert (run.requested_by, run.interface, run.status) == ("admin-user", "web", "queued")
    event = AuditEvent.objects.get(event_type="checklist.evaluated")
    assert (event.actor_id, event.interface, event.detail) == (
        admin.pk,
        "web",
        {"status": "queued"},
    )
    page = client.get(URL).content.decode()
    assert f"Checklist run #{run.pk} queued; this page follows its progress." in page
    assert "The checklist has not been run yet" in page

    assert run_security_checklist_task.call(run.pk) == f"checklist run #{run.pk} finished"
    page = client.get(URL).content.decode()
    assert f"Run #{run.pk}, checked" in page
    assert "data-checklist-progress" not in page


def test_run_checks_now_needs_the_csrf_token(db: None) -> None:
    admin = User.objects.create_user("admin-user", "a@example.com", "a-long-password-1")
    client = signed_in(admin, Role.ADMIN, enforce_csrf_checks=True)
    assert client.post(URL).status_code == 403
    assert not ChecklistRun.objects.exists()
    assert 'name="csrfmiddlewaretoken"' in client.get(URL).content.decode()


def test_the_attest_link_is_for_those_who_may_attest(db: None) -> None:
    """The page is for admins; a user granted only the checklist view sees no attest link."""
    from django.contrib.auth.models import Permission

    do_run_security_checklist(acting=Operator())
    reader = User.objects.create_user("reader", "r@example.com", "a-long-password-1")
    reader.user_permissions.add(Permission.objects.get(codename="view_checklistresult"))
    AwsAccount.objects.create(account_id="111111111111", name="prod")
    client = signed_in(reader, None, "111111111111")
    html = client.get(URL).content.decode()
    assert "attestation/add" not in html
    assert "Run checks now" in html
