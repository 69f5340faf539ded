"""The Resources list and its CSV export: filters, order, exact counts and costs, roles,
account isolation, exemptions and bad parameters."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import AuditEvent, AwsAccount, Resource, Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.stored.costs import refresh_costs
from compliance.writes.costs import do_import_costs
from compliance.writes.exemptions import do_create_exemption
from tests.compliance.billing.bills import (
    BUCKET,
    FOCUS_HEADER,
    I_AAA,
    I_BBB,
    I_CCC,
    ORDERS,
    A,
    B,
    focus_row,
    write_csv,
)
from tests.compliance.views.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/resources/"
EXPORT = "/resources/export.csv"


def listed_arns(response: Any) -> list[str]:
    """The ARNs of the table rows, in order."""
    return re.findall(
        r'<th scope="row" class="arn"><a href="/resources/\d+/">([^<]+)</a>',
        (response.content.decode()),
    )


def cells(response: Any) -> list[list[str]]:
    """Each table row's cells as text, tags stripped."""
    body = response.content.decode().split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def export_rows(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def estate(estate: Scan) -> Scan:
    """The shared estate with names and tags; the rds:db out of scope."""
    Resource.objects.filter(arn=I_AAA).update(
        name="web-01", tags={"Owner": "ann", "Environment": "prod", "Project": "shop"}
    )
    Resource.objects.filter(arn=I_BBB).update(name="web-02", tags={"Project": "shop"})
    Resource.objects.filter(arn=BUCKET).update(name="logs-bucket", tags={"Environment": "prod"})
    Resource.objects.filter(arn=ORDERS).update(name="orders", is_compliant=None)
    Resource.objects.filter(arn=I_CCC).update(name="etl-01", tags={"Owner": "bea"})
    return estate


@pytest.fixture
def viewer(alice: User) -> Client:
    """alice: a viewer granted account A only."""
    return signed_in(alice, Role.VIEWER, A)


@pytest.fixture
def analyst(alice: User) -> Client:
    return signed_in(alice, Role.ANALYST, A)


# --- Roles ------------------------------------------------------------------------------------


def test_without_a_role_the_list_is_refused(estate: Scan, bob: User) -> None:
    response = signed_in(bob, None).get(URL)
    assert response.status_code == 403
    assert I_AAA not in response.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(estate: Scan) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_viewer_may_list_but_not_export(billed: Scan, viewer: Client) -> None:
    page = viewer.get(URL)
    assert page.status_code == 200
    assert "Export CSV" not in page.content.decode()
    response = viewer.get(EXPORT)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(event_type="export.resources").exists()


def test_an_analyst_sees_the_export_link_with_the_current_filters(
    billed: Scan, analyst: Client
) -> None:
    page = analyst.get(URL, {"region": "us-east-1", "sort": "arn", "page": "1"})
    assert f'href="{EXPORT}?region=us-east-1&amp;sort=arn"' in page.content.decode()


# --- Values, order and costs ------------------------------------------------------------------


def test_rows_show_every_column_with_the_latest_bill_cost(billed: Scan, viewer: Client) -> None:
    response = viewer.get(URL)
    assert response.status_code == 200
    assert "<strong>4</strong> resources" in response.content.decode()
    # Highest cost first by default when a bill is loaded.
    assert cells(response) == [
        [
            "web-02",
            I_BBB,
            "ec2:instance",
            "us-east-1",
            f"prod ({A})",
            "Non-compliant",
            "2",
            "19.00",
        ],
        ["web-01", I_AAA, "ec2:instance", "us-east-1", f"prod ({A})", "Compliant", "0", "9.57"],
        [
            "logs-bucket",
            BUCKET,
            "s3:bucket",
            "us-east-1",
            f"prod ({A})",
            "Non-compliant",
            "1",
            "3.33",
        ],
        ["orders", ORDERS, "rds:db", "us-east-1", f"prod ({A})", "Out of scope", "0", "0.00"],
    ]
    assert "billing period from 2024-05-01 to 2024-06-01, in USD" in response.content.decode()


def test_cost_sort_ascending_and_by_name(billed: Scan, viewer: Client) -> None:
    assert listed_arns(viewer.get(URL, {"sort": "cost"})) == [ORDERS, BUCKET, I_AAA, I_BBB]
    assert listed_arns(viewer.get(URL, {"sort": "name"})) == [BUCKET, ORDERS, I_AAA, I_BBB]
    assert listed_arns(viewer.get(URL, {"sort": "-arn"})) == sorted(
        [BUCKET, ORDERS, I_BBB, I_AAA], reverse=True
    )
    assert listed_arns(viewer.get(URL, {"sort": "type"})) == [I_AAA, I_BBB, ORDERS, BUCKET]


def test_without_a_bill_costs_are_unknown_and_the_order_is_by_arn(
    estate: Scan, viewer: Client
) -> None:
    response = viewer.get(URL)
    assert listed_arns(response) == sorted([BUCKET, I_AAA, I_BBB, ORDERS])
    assert {row[-1] for row in cells(response)} == {"—"}
    assert "No bill is loaded" in response.content.decode()
    cost_sorted = viewer.get(URL, {"sort": "-cost"})
    assert listed_arns(cost_sorted) == sorted([BUCKET, I_AAA, I_BBB, ORDERS])
    assert "no cost to sort by" in cost_sorted.content.decode()


def test_a_credit_is_shown_as_a_negative_cost(estate: Scan, viewer: Client, tmp_path: Path) -> None:
    rows = [focus_row(A, "us-east-1", "Amazon S3", "logs-bucket", "Credit", "-2.5", "-2.5")]
    do_import_costs(str(write_csv(tmp_path / "c.csv", FOCUS_HEADER, rows)), acting=Operator())
    response = viewer.get(URL, {"sort": "cost"})
    assert cells(response)[0][1:] == [
        BUCKET,
        "s3:bucket",
        "us-east-1",
        f"prod ({A})",
        "Non-compliant",
        "1",
        "-2.50",
    ]


# --- Filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "ec2:instance"}, [I_AAA, I_BBB, I_CCC]),
        ({"region": "eu-west-1"}, [I_CCC]),
        ({"account": B}, [I_CCC]),
        ({"tag_key": "Owner"}, [I_AAA, I_CCC]),
        ({"tag_key": "Environment", "tag_value": "prod"}, [BUCKET, I_AAA]),
        ({"tag_key": "Owner", "tag_value": "bea"}, [I_CCC]),
        ({"compliance": "compliant"}, [I_AAA]),
        ({"compliance": "noncompliant"}, [BUCKET, I_BBB, I_CCC]),
        ({"compliance": "out_of_scope"}, [ORDERS]),
        ({"violation_type": "missing_required_tag"}, [BUCKET, I_BBB, I_CCC]),
        ({"violation_type": "invalid_value"}, []),
        ({"q": "WEB-0"}, [I_AAA, I_BBB]),
        ({"q": "i-0cc"}, [I_CCC]),
        ({"q": "web", "type": "ec2:instance", "compliance": "noncompliant"}, [I_BBB]),
    ],
)
def test_filters(estate: Scan, charlie: User, params: dict[str, str], expected: list[str]) -> None:
    client = signed_in(charlie, Role.ADMIN)
    response = client.get(URL, {**params, "sort": "arn"})
    assert response.status_code == 200
    assert listed_arns(response) == sorted(expected)
    count = len(expected)
    assert (
        f"<strong>{count}</strong> resource{'' if count == 1 else 's'}" in response.content.decode()
    )


def test_gone_resources_are_not_listed(estate: Scan, viewer: Client) -> None:
    Resource.objects.filter(arn=I_BBB).update(gone_since=timezone.now())
    assert listed_arns(viewer.get(URL, {"sort": "arn"})) == sorted([BUCKET, I_AAA, ORDERS])


def test_the_filter_form_offers_only_values_of_the_viewers_accounts(
    estate: Scan, viewer: Client
) -> None:
    html = viewer.get(URL).content.decode()
    assert f'<option value="{A}">prod ({A})</option>' in html
    assert B not in html
    assert '<option value="us-east-1">us-east-1</option>' in html
    assert "eu-west-1" not in html
    assert re.findall(r'<option value="([a-z0-9]+:[a-z-]+)"', html) == [
        "ec2:instance",
        "rds:db",
        "s3:bucket",
    ]


def test_exempted_violations_do_not_count(estate: Scan, viewer: Client, alice: User) -> None:
    do_create_exemption(
        reason="bucket owned by the platform team",
        owner="alice",
        expires_at=timezone.now() + timedelta(days=30),
        acting=Operator(),
        resource_arn=BUCKET,
        tag_key="Owner",
    )
    do_create_exemption(
        reason="being retagged",
        owner="alice",
        expires_at=timezone.now() + timedelta(days=30),
        acting=Operator(),
        resource_arn=I_BBB,
        tag_key="Owner",
    )
    rows = {row[1]: row for row in cells(viewer.get(URL, {"sort": "arn"}))}
    assert rows[BUCKET][5:7] == ["Compliant", "0"]
    assert rows[I_BBB][5:7] == ["Non-compliant", "1"]
    compliant = viewer.get(URL, {"compliance": "compliant", "sort": "arn"})
    assert listed_arns(compliant) == sorted([BUCKET, I_AAA])
    assert listed_arns(viewer.get(URL, {"compliance": "noncompliant"})) == [I_BBB]
    assert listed_arns(viewer.get(URL, {"violation_type": "missing_required_tag"})) == [I_BBB]


# --- Account isolation ------------------------------------------------------------------------


def test_a_viewer_never_sees_another_accounts_resources_counts_or_money(
    billed: Scan, viewer: Client
) -> None:
    html = viewer.get(URL).content.decode()
    for leak in (I_CCC, B, "eu-west-1", "80.00", "etl-01", "data ("):
        assert leak not in html
    assert "<strong>4</strong> resources" in html


def test_an_account_the_viewer_cannot_see_reads_like_one_that_does_not_exist(
    billed: Scan, viewer: Client
) -> None:
    hidden = viewer.get(URL, {"account": B}).content.decode()
    unknown = viewer.get(URL, {"account": "999999999999"}).content.decode()
    assert "account: not found or not visible to you: 222222222222" in hidden
    assert "account: not found or not visible to you: 999999999999" in unknown
    assert hidden.split("<main", 1)[1].replace(B, "X") == unknown.split("<main", 1)[1].replace(
        "999999999999", "X"
    )
    assert I_CCC not in hidden
    assert "80.00" not in hidden


def test_an_analysts_export_holds_only_their_accounts(billed: Scan, analyst: Client) -> None:
    rows = export_rows(analyst.get(EXPORT))
    assert {row["account_id"] for row in rows} == {A}
    assert I_CCC not in {row["arn"] for row in rows}
    assert analyst.get(EXPORT, {"account": B}).status_code == 400


# --- Bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"violation_type": "nope"}, "violation_type: unknown type &#x27;nope&#x27;"),
        ({"compliance": "maybe"}, "compliance: unknown state &#x27;maybe&#x27;"),
        ({"tag_value": "prod"}, "tag_value: give the tag key too"),
    ],
)
def test_a_filter_that_cannot_apply_lists_nothing_with_a_message(
    estate: Scan, viewer: Client, params: dict[str, str], message: str
) -> None:
    response = viewer.get(URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert listed_arns(response) == []
    assert "Export CSV" not in html


def test_bad_sort_and_page_fall_back_with_a_notice(estate: Scan, viewer: Client) -> None:
    response = viewer.get(URL, {"sort": "price", "page": "abc"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "sort: unknown order &#x27;price&#x27;" in html
    assert "page: &#x27;abc&#x27; is not a page number; showing page 1." in html
    assert listed_arns(response) == sorted([BUCKET, I_AAA, I_BBB, ORDERS])
    for page in ("0", "-1", "1e3", "99999999999999999999"):
        assert viewer.get(URL, {"page": page}).status_code == 200


def test_export_refuses_a_bad_filter_with_a_message_and_audits_it(
    estate: Scan, analyst: Client
) -> None:
    response = analyst.get(EXPORT, {"violation_type": "nope"})
    assert response.status_code == 400
    assert response.content.decode().startswith("violation_type: unknown type 'nope'")
    event = AuditEvent.objects.get(event_type="export.resources")
    assert event.outcome == "error"


# --- Pages ------------------------------------------------------------------------------------


def many(count: int, account: str = A) -> list[str]:
    now = timezone.now()
    owner = AwsAccount.objects.get(account_id=account)
    scan = Scan.objects.get()
    arns = [f"arn:aws:sqs:us-east-1:{account}:queue-{i:05d}" for i in range(count)]
    Resource.objects.bulk_create(
        Resource(
            arn=arn,
            account=owner,
            region="us-east-1",
            resource_type="sqs:queue",
            name=f"queue-{i:05d}",
            tags={"Owner": "=cmd|' /C calc'!A0"} if i == 0 else {},
            first_seen_at=now,
            last_seen_at=now,
            last_seen_scan=scan,
            is_compliant=True,
        )
        for i, arn in enumerate(arns)
    )
    return arns


def test_pages_of_fifty_with_an_exact_total(estate: Scan, viewer: Client) -> None:
    queues = many(1230)  # with the four of the estate: 1,234 in account A
    first = viewer.get(URL, {"type": "sqs:queue", "sort": "arn"})
    assert "<strong>1,230</strong> resources, page 1 of 25" in first.content.decode()
    assert listed_arns(first) == queues[:50]
    last = viewer.get(URL, {"type": "sqs:queue", "sort": "arn", "page": "25"})
    assert listed_arns(last) == queues[1200:]
    beyond = viewer.get(URL, {"type": "sqs:queue", "sort": "arn", "page": "26"})
    assert "page: there is no page 26; the last is 25." in beyond.content.decode()
    assert listed_arns(beyond) == queues[1200:]
    assert "<strong>1,234</strong> resources" in viewer.get(URL).content.decode()


def test_the_number_of_queries_does_not_grow_with_the_page(billed: Scan, viewer: Client) -> None:
    def queries(params: dict[str, str]) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get(URL, params).status_code == 200
        return len(captured.captured_queries)

    few = queries({"sort": "-cost"})
    many(120)
    refresh_costs()  # as a scan would, so that both pages read the stored costs
    assert queries({"sort": "-cost"}) == few


def test_no_resources_yet_says_so(alice: User) -> None:
    AwsAccount.objects.create(account_id=A, name="prod")
    client = signed_in(alice, Role.VIEWER, A)
    html = client.get(URL).content.decode()
    assert "No resources in your accounts yet" in html
    assert "<strong>0</strong> resources" in html


def test_no_match_says_so_with_a_way_back(estate: Scan, viewer: Client) -> None:
    html = viewer.get(URL, {"q": "nothing-like-this"}).content.decode()
    assert "No resource matches these filters" in html


# --- Export -----------------------------------------------------------------------------------


def test_export_is_the_whole_filtered_set_in_the_list_order(billed: Scan, analyst: Client) -> None:
    queues = many(120)
    response = analyst.get(EXPORT, {"sort": "-cost"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = export_rows(response)
    assert len(rows) == 124
    listed = []
    for page in (1, 2, 3):
        listed += listed_arns(analyst.get(URL, {"sort": "-cost", "page": str(page)}))
    assert [row["arn"] for row in rows] == listed
    assert [row["arn"] for row in rows[:3]] == [I_BBB, I_AAA, BUCKET]
    # Ties (every zero cost) in ARN order: rds before sqs.
    assert [row["arn"] for row in rows[3:]] == [ORDERS, *queues]


def test_export_columns_and_values(billed: Scan, analyst: Client) -> None:
    rows = export_rows(analyst.get(EXPORT, {"type": "ec2:instance", "sort": "arn"}))
    assert list(rows[0]) == [
        "arn",
        "name",
        "resource_type",
        "region",
        "account_id",
        "compliant",
        "violations",
        "violation_types",
        "monthly_cost",
        "tags",
    ]
    assert rows == [
        {
            "arn": I_AAA,
            "name": "web-01",
            "resource_type": "ec2:instance",
            "region": "us-east-1",
            "account_id": A,
            "compliant": "true",
            "violations": "0",
            "violation_types": "",
            "monthly_cost": "9.57",
            "tags": '{"Environment": "prod", "Owner": "ann", "Project": "shop"}',
        },
        {
            "arn": I_BBB,
            "name": "web-02",
            "resource_type": "ec2:instance",
            "region": "us-east-1",
            "account_id": A,
            "compliant": "false",
            "violations": "2",
            "violation_types": "missing_required_tag",
            "monthly_cost": "19.00",
            "tags": '{"Project": "shop"}',
        },
    ]
    out_of_scope = export_rows(analyst.get(EXPORT, {"compliance": "out_of_scope"}))
    assert [(r["arn"], r["compliant"], r["monthly_cost"]) for r in out_of_scope] == [
        (ORDERS, "", "0.00")
    ]


def test_export_neutralises_formulas(estate: Scan, analyst: Client) -> None:
    Resource.objects.filter(arn=I_AAA).update(name='=HYPERLINK("http://x")')
    many(1)
    rows = {row["arn"]: row for row in export_rows(analyst.get(EXPORT))}
    assert rows[I_AAA]["name"] == '\'=HYPERLINK("http://x")'
    # JSON starts with a brace, so the tags cell is safe as it is and stays parseable.
    queue = rows[f"arn:aws:sqs:us-east-1:{A}:queue-00000"]
    assert json.loads(queue["tags"]) == {"Owner": "=cmd|' /C calc'!A0"}
    assert rows[I_AAA]["monthly_cost"] == ""


def test_export_is_audited_once_before_streaming(billed: Scan, analyst: Client) -> None:
    response = analyst.get(EXPORT, {"region": "us-east-1", "q": "web", "sort": "arn"})
    event = AuditEvent.objects.get(event_type="export.resources")
    assert (event.interface, event.outcome, event.actor_label) == ("web", "success", "alice")
    assert event.detail == {"filters": {"region": "us-east-1", "q": "web", "sort": "arn"}}
    assert [row["arn"] for row in export_rows(response)] == [I_AAA, I_BBB]
    assert AuditEvent.objects.filter(event_type="export.resources").count() == 1
