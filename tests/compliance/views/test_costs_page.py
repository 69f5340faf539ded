"""The costs page: a billing period's spend split into its four parts, untagged spend per tag key,
breakdowns, the cost source and the attribution trend, over the signed-in user's accounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from compliance.core import policy
from compliance.models import Scan, TaggingPolicy
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.scans import _take_snapshots
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import (
    FOCUS_HEADER,
    I_AAA,
    I_CCC,
    A,
    B,
    focus_row,
    write_csv,
)
from tests.compliance.views.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/costs/"

JUNE_ROWS = [
    focus_row(
        A,
        "us-east-1",
        "Amazon EC2",
        I_AAA,
        "Usage",
        "1.005",
        "1.005",
        start="2024-06-01T00:00:00Z",
        end="2024-07-01T00:00:00Z",
    )
]


@pytest.fixture
def billed(billed: Scan) -> Scan:
    """The May FOCUS bill of bills.py, and the scan's snapshots taken with it loaded."""
    active = TaggingPolicy.objects.get(is_active=True)
    assert billed.finished_at is not None
    _take_snapshots(billed, policy.policy_from_dict(active.document), billed.finished_at)
    return billed


def figures(html: str) -> dict[str, str]:
    """The split's figures: definition term (without its hint) -> amount."""
    found = re.findall(r"<dt>([^<]+?)\s*(?:<span[^>]*>[^<]*</span>)?</dt><dd>([^<]+)</dd>", html)
    return {term.strip(): amount for term, amount in found}


def table(html: str, labelled: str) -> list[list[str]]:
    body = html.split(f'aria-labelledby="{labelled}"', 1)[1].split("</table>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]
    ]


def test_the_split_adds_up_and_names_its_source(billed: Scan, charlie: User) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert figures(html) == {
        "Total spend": "$139.64",
        "Attributable": "$9.57",
        "Attribution gap": "$102.33",
        "Unattributable": "$22.19",
        "Unmatched": "$5.55",
    }
    assert (
        "Total $139.64 = attributable $9.57 + attribution gap $102.33 + unattributable $22.19 "
        "+ unmatched $5.55." in html
    )
    assert "<strong>the imported FOCUS bill</strong>. Exact:" in html
    assert "Billing period 2024-05-01 to 2024-06-01, amounts in USD" in html


def test_untagged_spend_per_key_and_breakdowns(billed: Scan, charlie: User) -> None:
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert table(html, "untagged") == [
        ["Project", "$80.00", "$80.00", "Violations of Project"],
        ["Owner", "$22.33", "$22.33", "Violations of Owner"],
        ["Environment", "$19.00", "$19.00", "Violations of Environment"],
    ]
    assert 'href="/violations/?tag=Project"' in html
    assert "Untagged spend (the key is absent) per required tag key" in html
    assert table(html, "by-account") == [
        ["data (222222222222)", "$88.00", "$0.00", "$80.00", "$8.00", "$0.00"],
        ["prod (111111111111)", "$51.64", "$9.57", "$22.33", "$14.19", "$5.55"],
    ]
    assert ["eu-west-1", "$80.00", "$0.00", "$80.00", "$0.00", "$0.00"] in table(html, "by-region")
    assert table(html, "by-service")[0][:2] == ["Amazon EC2", "$126.32"]


def test_the_trend_shows_money_per_month(billed: Scan, charlie: User) -> None:
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    (row,) = table(html, "trend")
    assert row[1:] == [
        f"#{billed.pk}",
        "2024-05",
        "focus",
        "$139.64",
        "$9.57",
        "$102.33",
        "$22.19",
        "$5.55",
    ]
    assert "Attribution gap by month" in html


def test_a_viewer_of_one_account_sees_only_its_money(billed: Scan, alice: User) -> None:
    client = signed_in(alice, Role.VIEWER, A)
    html = client.get(URL).content.decode()
    assert figures(html) == {
        "Total spend": "$51.64",
        "Attributable": "$9.57",
        "Attribution gap": "$22.33",
        "Unattributable": "$14.19",
        "Unmatched": "$5.55",
    }
    assert table(html, "by-account") == [
        ["prod (111111111111)", "$51.64", "$9.57", "$22.33", "$14.19", "$5.55"]
    ]
    assert table(html, "trend")[0][4:] == ["$51.64", "$9.57", "$22.33", "$14.19", "$5.55"]
    for secret in (B, I_CCC, "i-0ccc", "$80.00", "$88.00", "$139.64", "$102.33", "data ("):
        assert secret not in html
    refused = client.get(URL, {"account": B})
    assert refused.status_code == 400
    assert "not found or not visible to you" in refused.content.decode()


def test_an_account_filter_narrows_every_figure(billed: Scan, charlie: User) -> None:
    html = signed_in(charlie, Role.ADMIN).get(URL, {"account": B}).content.decode()
    assert figures(html)["Total spend"] == "$88.00"
    assert figures(html)["Attribution gap"] == "$80.00"
    assert table(html, "untagged")[0][:2] == ["Project", "$80.00"]


def test_latest_period_by_default_and_another_by_choice(
    billed: Scan, charlie: User, tmp_path: Path
) -> None:
    do_import_costs(
        str(write_csv(tmp_path / "june.csv", FOCUS_HEADER, JUNE_ROWS)), acting=Operator()
    )
    client = signed_in(charlie, Role.ADMIN)
    june = client.get(URL).content.decode()
    assert figures(june)["Total spend"] == "$1.00"  # 1.005, half to even
    assert '<option value="2024-06">' in june
    assert '<option value="2024-05">' in june
    may = client.get(URL, {"period": "2024-05"}).content.decode()
    assert figures(may)["Total spend"] == "$139.64"
    assert '<option value="2024-05" selected>' in may


def test_a_viewer_is_not_offered_periods_only_other_accounts_were_billed(
    billed: Scan, alice: User, tmp_path: Path
) -> None:
    rows = [
        focus_row(
            B,
            "eu-west-1",
            "Amazon EC2",
            I_CCC,
            "Usage",
            "5",
            "5",
            start="2024-07-01T00:00:00Z",
            end="2024-08-01T00:00:00Z",
        )
    ]
    do_import_costs(str(write_csv(tmp_path / "july.csv", FOCUS_HEADER, rows)), acting=Operator())
    client = signed_in(alice, Role.VIEWER, A)
    html = client.get(URL).content.decode()
    assert "2024-07" not in html
    assert figures(html)["Total spend"] == "$51.64"
    assert client.get(URL, {"period": "2024-07"}).status_code == 400


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("May 2024", "period: &#x27;May 2024&#x27; is not a month written YYYY-MM"),
        ("2024-13", "period: &#x27;2024-13&#x27; is not a month written YYYY-MM"),
        ("2023-01", "period: no costs loaded for 2023-01 in your accounts (loaded: 2024-05)"),
    ],
)
def test_bad_periods_get_a_clear_400(
    billed: Scan, charlie: User, period: str, message: str
) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL, {"period": period})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_without_a_bill_the_page_says_how_to_load_one(estate: Scan, alice: User) -> None:
    html = signed_in(alice, Role.VIEWER, A).get(URL).content.decode()
    assert "Load a bill with <code>manage.py import_costs</code>" in html
    assert "<code>manage.py fetch_costs</code>" in html
    assert "Total spend" not in html


def test_no_role_is_refused(billed: Scan, bob: User) -> None:
    assert signed_in(bob, None).get(URL).status_code == 403
    assert Client().get(URL).status_code == 302
