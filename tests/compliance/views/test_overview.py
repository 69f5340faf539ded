"""The overview page: score, trend, money, costliest violations, worst groups and freshness,
each figure over the signed-in user's accounts only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.core import policy
from compliance.models import Resource, Scan, TaggingPolicy
from compliance.permissions.roles import Role
from compliance.scans import _take_snapshots
from tests.compliance.billing.bills import (
    BUCKET,
    I_BBB,
    I_CCC,
    A,
    B,
)
from tests.compliance.views.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/"


@pytest.fixture
def alice_on_a(alice: User, estate: Scan) -> Client:
    return signed_in(alice, Role.VIEWER, A)


def page(client: Client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


# --- Access -------------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(db: None) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_user_without_a_role_gets_403(bob: User) -> None:
    response = signed_in(bob, None).get(URL)
    assert response.status_code == 403
    assert "viewer" in response.content.decode()


def test_scan_now_is_offered_to_analysts_only(alice: User, bob: User) -> None:
    form = 'action="/scans/start"'
    assert form not in page(signed_in(alice, Role.VIEWER))
    assert form in page(signed_in(bob, Role.ANALYST))


# --- Empty states -------------------------------------------------------------------------------


def test_without_scan_or_costs_the_page_says_what_to_run(alice: User) -> None:
    html = page(signed_in(alice, Role.VIEWER))
    assert "No scan yet: run one" in html
    assert "python manage.py import_costs PATH" in html
    assert "No costs loaded" in html
    assert "Compliance score: not available." in html


def test_without_costs_the_compliance_figures_still_show(alice_on_a: Client) -> None:
    html = page(alice_on_a)
    assert "No costs loaded" in html
    assert "<dt>Compliant resources</dt><dd>2 of 4</dd>" in html
    assert "Ranked by cost once costs are loaded" in html


# --- Figures ------------------------------------------------------------------------------------


def test_viewer_sees_the_figures_of_their_account_only(alice_on_a: Client, billed: Scan) -> None:
    response = alice_on_a.get(URL)
    html = response.content.decode()
    summary = response.context["summary"]
    assert (summary.total_resources, summary.compliant_resources, summary.violation_count) == (
        4,
        2,
        3,
    )
    assert "<dt>Compliance score</dt><dd>50.0%</dd>" in html
    # Account A's money of the May bill: 9.5712345 + 19.00 + 3.333 + 14.19 + 5.55.
    split = dict(response.context["money"]["split"])
    assert split == {
        "Total spend": "$51.64",
        "Attributable (resources with every required tag right)": "$9.57",
        "Attribution gap (resources with a violation)": "$22.33",
        "Unattributable (no resource: tax, support, fees)": "$14.19",
        "On resources not in the inventory": "$5.55",
    }
    assert '<div class="gap"><dt>Attribution gap</dt><dd>$22.33</dd></div>' in html
    # Untagged spend per required key, as the chart's table says it.
    for key, amount in (("Owner", "$22.33"), ("Environment", "$19.00"), ("Project", "$0.00")):
        assert f'<tr><th scope="row">{key}</th><td>{amount}</td></tr>' in html
    for other in (B, I_CCC, "$80.00", "$139.64", "$102.33", "data)"):
        assert other not in html


def test_the_page_reads_the_viewers_grants_once(alice_on_a: Client, billed: Scan) -> None:
    # Its figures ask for the viewer's accounts about fifteen times; one page is one answer.
    with CaptureQueriesContext(connection) as queries:
        page(alice_on_a)
    grants = [q for q in queries.captured_queries if '"compliance_accountaccess"' in q["sql"]]
    assert len(grants) == 1


def test_admin_sees_every_account(charlie: User, billed: Scan) -> None:
    html = page(signed_in(charlie, Role.ADMIN))
    assert "<dt>Compliant resources</dt><dd>2 of 5</dd>" in html
    assert '<div class="gap"><dt>Attribution gap</dt><dd>$102.33</dd></div>' in html
    assert '<tr><th scope="row">Total spend</th><td class="num">$139.64</td></tr>' in html
    assert I_CCC in html


def test_costliest_violations_are_ranked_and_link_to_their_resource(
    alice_on_a: Client, billed: Scan
) -> None:
    response = alice_on_a.get(URL)
    rows = [
        (r["resource"].arn, r["violation"].tag_name, r["cost"])
        for r in response.context["costliest"]
    ]
    assert rows == [
        (I_BBB, "Environment", "$19.00"),  # 20.005 usage - 1.005 credit
        (I_BBB, "Owner", "$19.00"),
        (BUCKET, "Owner", "$3.33"),
    ]
    bbb = Resource.objects.get(arn=I_BBB)
    assert f'<a href="/resources/{bbb.pk}/">{I_BBB}</a>' in response.content.decode()


def test_costliest_violations_of_an_admin_start_with_the_other_account(
    charlie: User, billed: Scan
) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL)
    first = response.context["costliest"][0]
    assert (first["resource"].arn, first["violation"].tag_name, first["cost"]) == (
        I_CCC,
        "Project",
        "$80.00",
    )


def test_worst_groups_rank_lowest_score_first_and_link_to_the_resources(
    alice_on_a: Client, billed: Scan
) -> None:
    response = alice_on_a.get(URL)
    accounts, regions, types = response.context["worst"]
    assert [(r["label"], r["score"], r["url"]) for r in accounts["rows"]] == [
        (f"{A} (prod)", "50.0%", f"/resources/?account={A}")
    ]
    assert [(r["label"], r["score"]) for r in regions["rows"]] == [("us-east-1", "50.0%")]
    assert [
        (r["label"], r["score"], r["compliant"], r["in_scope"], r["violations"], r["url"])
        for r in types["rows"]
    ] == [
        ("s3:bucket", "0.0%", "0", "1", "1", "/resources/?type=s3%3Abucket"),
        ("ec2:instance", "50.0%", "1", "2", "2", "/resources/?type=ec2%3Ainstance"),
        ("rds:db", "100.0%", "1", "1", "0", "/resources/?type=rds%3Adb"),
    ]
    html = response.content.decode()
    assert '<a class="bar-link" href="/resources/?region=us-east-1">' in html
    assert f'<th scope="row"><a href="/resources/?account={A}">{A} (prod)</a></th>' in html


def test_trend_shows_the_daily_score_of_the_viewers_accounts(alice_on_a: Client) -> None:
    scan = Scan.objects.get()
    row = TaggingPolicy.objects.get(is_active=True)
    assert scan.finished_at is not None
    _take_snapshots(scan, policy.policy_from_dict(row.document), scan.finished_at)
    html = page(alice_on_a)
    day = timezone.localtime(scan.finished_at).date().isoformat()
    assert "Compliance score by day, last 30 days" in html
    assert f'<tr><th scope="row">{day}</th><td>50.0%</td></tr>' in html


# --- Freshness ----------------------------------------------------------------------------------


def test_last_scan_says_which_when_and_what_failed_in_the_viewers_accounts(
    alice_on_a: Client,
) -> None:
    Scan.objects.update(
        status=Scan.Status.PARTIAL,
        outcomes=[
            outcome(A, "us-east-1", "s3:bucket", "AccessDenied", "no s3:ListAllMyBuckets"),
            outcome(B, "eu-west-1", "ec2:instance", "UnauthorizedOperation", "denied"),
        ],
    )
    scan = Scan.objects.get()
    html = page(alice_on_a)
    assert f'<a href="/scans/{scan.pk}/">scan #{scan.pk}</a>' in html
    assert '<strong class="quality-partial">partial</strong>' in html
    assert f"<li>{A} us-east-1 s3:bucket: AccessDenied no s3:ListAllMyBuckets</li>" in html
    assert B not in html
    assert "more than a day old" not in html


def test_an_old_scan_is_called_stale_and_a_newer_running_one_is_named(
    alice_on_a: Client,
) -> None:
    Scan.objects.update(finished_at=timezone.now() - timedelta(days=3))
    running = Scan.objects.create(status=Scan.Status.RUNNING, started_at=timezone.now())
    html = page(alice_on_a)
    assert "This scan is more than a day old" in html
    assert f'<a href="/scans/{running.pk}/">scan #{running.pk}</a> is running' in html


def outcome(
    account: str, region: str, resource_type: str, code: str, message: str
) -> dict[str, object]:
    return {
        "account_id": account,
        "region": region,
        "resource_type": resource_type,
        "status": "error",
        "resource_count": 0,
        "error_code": code,
        "error_message": message,
        "duration_ms": 12,
    }
