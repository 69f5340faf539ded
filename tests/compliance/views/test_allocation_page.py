"""The allocation page: a billing period's spend per value of one tag key, the buckets no value
owns, the drill-down into one value or bucket, and the CSV download of the same numbers.

The estate is bills.py's (accounts A and B, the May FOCUS bill) with tags set by hand, so every
figure below is worked out from the module docstring of bills.py:

- ``i-0aaa`` (A, 9.5712345): Owner=team-a, Environment=production, CostCenter=CC-1
- ``i-0bbb`` (A, 19.00): Environment=prod (refused: not an allowed value), no Owner
- ``logs-bucket`` (A, 3.333): Owner=``<script>alert(1)</script>``
- ``orders`` (A, not billed): Owner=team-a
- ``i-0ccc`` (B, 80.00): Owner=``Own\\u200ber``, Environment=development, CostCenter=``=1+1``
- no resource: tax and support, 22.19 (14.19 in A); ``i-0zzz``, not in the inventory: 5.55
"""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from compliance.audit.events import EventType
from compliance.models import AuditEvent, Resource, Scan, TaggingPolicy
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.writes.costs import do_import_costs
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

URL = "/allocation/"
HOSTILE = "<script>alert(1)</script>"
HIDDEN = "Own\u200ber"
#: How a page shows HIDDEN: escaped text with the zero-width space as a styled marker.
HIDDEN_SHOWN = 'Own<span class="hidden-char">⟨U+200B⟩</span>er'


@pytest.fixture
def billed(billed: Scan) -> Scan:
    """The May bill over the tagged estate, under a policy that allows two Environments."""
    TaggingPolicy.objects.filter(is_active=True).update(
        document={
            "required_tags": [
                {"name": "Owner"},
                {"name": "Environment", "allowed_values": ["production", "development"]},
                {"name": "Project"},
            ]
        }
    )
    tags = {
        I_AAA: {"Owner": "team-a", "Environment": "production", "CostCenter": "CC-1"},
        I_BBB: {"Environment": "prod"},
        BUCKET: {"Owner": HOSTILE},
        ORDERS: {"Owner": "team-a"},
        I_CCC: {"Owner": HIDDEN, "Environment": "development", "CostCenter": "=1+1"},
    }
    for arn, resource_tags in tags.items():
        Resource.objects.filter(arn=arn).update(tags=resource_tags)
    return billed


def _text(cell: str) -> str:
    """A cell as a reader sees it: tags dropped, entities read, spaces collapsed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip())


_BADGE = re.compile(r'\s*<span class="status [^"]*">([^<]*)</span>')


def table(html: str, labelled: str) -> list[list[str]]:
    """The rows of the table labelled ``labelled`` (header row left out), cells as text; a
    row's policy badge (valid, invalid, violates) last, apart from the cell that holds it."""
    body = html.split(f'aria-labelledby="{labelled}"', 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]:
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        badges = [badge for cell in cells for badge in _BADGE.findall(cell)]
        rows.append([_text(_BADGE.sub("", cell)) for cell in cells] + badges)
    return rows


def page(client: Client, **params: str | list[str]) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def csv_lines(client: Client, **params: str) -> list[dict[str, str]]:
    response = client.get(URL, {**params, "download": "csv"})
    assert response.status_code == 200, response.content.decode()[:2000]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_every_value_and_bucket_to_the_cent_adding_up_to_the_total(
    billed: Scan, charlie: User
) -> None:
    html = page(signed_in(charlie, Role.ADMIN), tag_key="Environment")
    rows = table(html, "values")
    assert [row[:4] for row in rows] == [
        ["development", "$80.00", "57.3%", "1"],
        ["production", "$9.57", "6.9%", "1"],
        ["Untagged resources without the key", "$3.33", "2.4%", "1"],
        ["Invalid value the key carries a value the policy refuses", "$19.00", "13.6%", "1"],
        ["prod", "$19.00", "13.6%", "1"],
        [
            "Unattributable charges of no resource: tax, support, fees, credits",
            "$22.19",
            "15.9%",
            "n/a",
        ],
        [
            "Unmatched resources on the bill the inventory does not hold",
            "$5.55",
            "4.0%",
            "n/a",
        ],
        ["Total", "$139.64", "100.0%", ""],
    ]
    # After spend, share and resources: as allocated, shared costs and rules, then the badge.
    assert [row[7] for row in rows[:5]] == ["valid", "valid", "violates", "violates", "invalid"]
    assert "billing period 2024-05" in html


def test_the_default_key_is_the_policys_first_required_one(billed: Scan, charlie: User) -> None:
    html = page(signed_in(charlie, Role.ADMIN))
    assert 'id="f-tag-key" name="tag_key" value="Owner"' in html
    assert [row[:2] for row in table(html, "values")[:4]] == [
        [HIDDEN.replace("\u200b", "⟨U+200B⟩"), "$80.00"],
        ["team-a", "$9.57"],
        [HOSTILE, "$3.33"],
        ["Untagged resources without the key", "$19.00"],
    ]


def test_a_hostile_value_is_escaped_and_a_hidden_character_shown(
    billed: Scan, charlie: User
) -> None:
    html = page(signed_in(charlie, Role.ADMIN), tag_key="Owner")
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HIDDEN not in html
    assert HIDDEN_SHOWN in html
    # The bar chart's labels too: the marker as text, no raw zero-width space anywhere.
    chart = html.split('<figure class="chart chart-bars">', 1)[1].split("</figure>", 1)[0]
    assert "Own⟨U+200B⟩er" in chart
    assert "&lt;script&gt;" in chart


def test_the_csv_holds_the_numbers_of_the_page(billed: Scan, charlie: User) -> None:
    client = signed_in(charlie, Role.ADMIN)
    shown = table(page(client, tag_key="Environment"), "values")
    lines = [
        line
        for line in csv_lines(client, tag_key="Environment")
        if not line["kind"].startswith("allocated_")  # the buckets after rules (none here)
    ]
    assert [
        (line["kind"], line["value"], line["resource_count"], line["spend"], line["share_percent"])
        for line in lines
    ] == [
        ("value", "development", "1", "80.00", "57.3"),
        ("value", "production", "1", "9.57", "6.9"),
        ("value", "prod", "1", "19.00", "13.6"),
        ("untagged", "", "1", "3.33", "2.4"),
        ("invalid", "", "1", "19.00", "13.6"),
        ("unattributable", "", "", "22.19", "15.9"),
        ("unmatched", "", "", "5.55", "4.0"),
        ("total", "", "", "139.64", "100.0"),
    ]
    page_spend = sorted(row[1].removeprefix("$") for row in shown)
    assert page_spend == sorted(line["spend"] for line in lines)
    assert {line["valid"] for line in lines[:3]} == {"true", "false"}
    assert lines[2]["valid"] == "false"
    assert {
        (line["tag_key"], line["billing_period_start"], line["currency"]) for line in lines
    } == {("Environment", "2024-05-01", "USD")}


def test_the_csv_shows_hidden_characters_and_defuses_formulas(billed: Scan, charlie: User) -> None:
    client = signed_in(charlie, Role.ADMIN)
    owners = [line["value"] for line in csv_lines(client, tag_key="Owner")[:3]]
    assert owners == ["Own⟨U+200B⟩er", "team-a", HOSTILE]
    centres = [line["value"] for line in csv_lines(client, tag_key="CostCenter")[:2]]
    assert centres == ["'=1+1", "CC-1"]


def test_the_csv_download_is_audited_as_an_export(billed: Scan) -> None:
    dave = User.objects.create_user("dave", "dave@example.com", "dave-password-123")
    client = signed_in(dave, Role.ANALYST, A, B)
    csv_lines(client, tag_key="Owner", region="eu-west-1")
    (event,) = AuditEvent.objects.filter(event_type=EventType.SHOWBACK_EXPORTED)
    assert (event.actor_id, event.outcome, event.interface, event.target) == (
        dave.pk,
        "success",
        "web",
        "Owner",
    )
    assert "region=eu-west-1" in event.detail["query"]


def test_a_viewer_may_see_the_page_but_not_download_it(billed: Scan, alice: User) -> None:
    client = signed_in(alice, Role.VIEWER, A)
    assert "Download CSV" not in page(client)
    response = client.get(URL, {"download": "csv"})
    assert response.status_code == 403
    (denied,) = AuditEvent.objects.filter(event_type=EventType.PERMISSION_DENIED)
    assert (denied.actor_id, denied.detail["action"], denied.interface) == (
        alice.pk,
        "export",
        "web",
    )
    assert not AuditEvent.objects.filter(event_type=EventType.SHOWBACK_EXPORTED).exists()


def test_drilling_into_a_value_lists_exactly_its_resources(billed: Scan, charlie: User) -> None:
    client = signed_in(charlie, Role.ADMIN)
    html = page(client, tag_key="Owner", value="team-a")
    aaa = Resource.objects.get(arn=I_AAA)
    # orders carries team-a too but is not on the bill: no spend, not listed.
    assert table(html, "drill-resources") == [[f"{I_AAA}ec2:instance · us-east-1 · {A}", "$9.57"]]
    assert f'href="/resources/{aaa.pk}/"' in html
    assert table(html, "by-account") == [["prod (111111111111)", "$9.57"]]
    assert table(html, "by-service") == [["Amazon EC2", "$9.57"]]
    assert ORDERS not in html


def test_drilling_into_a_bucket_lists_its_resources(billed: Scan, charlie: User) -> None:
    client = signed_in(charlie, Role.ADMIN)
    untagged = page(client, tag_key="Environment", bucket="untagged")
    assert [row[0] for row in table(untagged, "drill-resources")] == [
        f"{BUCKET}s3:bucket · us-east-1 · {A}"
    ]
    assert table(untagged, "by-service") == [["Amazon S3", "$3.33"]]
    invalid = page(client, tag_key="Environment", bucket="invalid")
    assert table(invalid, "drill-resources") == [
        [f"{I_BBB}ec2:instance · us-east-1 · {A}", "prod", "$19.00"]
    ]


def test_a_viewer_of_one_account_sees_only_its_spend(billed: Scan, alice: User) -> None:
    client = signed_in(alice, Role.VIEWER, A)
    html = page(client, tag_key="Owner")
    assert [row[:2] for row in table(html, "values")] == [
        ["team-a", "$9.57"],
        [HOSTILE, "$3.33"],
        ["Untagged resources without the key", "$19.00"],
        ["Invalid value the key carries a value the policy refuses", "$0.00"],
        ["Unattributable charges of no resource: tax, support, fees, credits", "$14.19"],
        ["Unmatched resources on the bill the inventory does not hold", "$5.55"],
        ["Total", "$51.64"],
    ]
    for secret in (B, I_CCC, "i-0ccc", "$80.00", "$139.64", "⟨U+200B⟩"):
        assert secret not in html
    drilled = client.get(URL, {"tag_key": "Owner", "value": HIDDEN}).content.decode()
    assert I_CCC not in drilled
    refused = client.get(URL, {"tag_key": "Owner", "account": B})
    assert refused.status_code == 400
    assert "not found or not visible to you" in refused.content.decode()


@pytest.mark.parametrize(
    ("filters", "first", "total"),
    [
        ({"region": "eu-west-1"}, ["Own⟨U+200B⟩er", "$80.00"], "$80.00"),
        ({"service": "Amazon S3"}, [HOSTILE, "$3.33"], "$3.33"),
        ({"type": "s3:bucket"}, [HOSTILE, "$3.33"], "$3.33"),
        ({"account": B}, ["Own⟨U+200B⟩er", "$80.00"], "$88.00"),
    ],
)
def test_the_filters_narrow_the_figures(
    billed: Scan, charlie: User, filters: dict[str, str], first: list[str], total: str
) -> None:
    rows = table(page(signed_in(charlie, Role.ADMIN), tag_key="Owner", **filters), "values")
    assert rows[0][:2] == first
    assert rows[1][0].startswith("Untagged")  # the only value under the filter
    assert rows[-1][:2] == ["Total", total]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "2023-01"}, "period: no costs loaded for 2023-01 in your accounts"),
        ({"period": "May"}, "period: &#x27;May&#x27; is not a month written YYYY-MM"),
        ({"tag_key": "k" * 129}, "tag_key: a tag key has at most 128 characters"),
        ({"value": "v" * 257}, "value: a tag value has at most 256 characters"),
        ({"bucket": "untagged", "value": "x"}, "drill into one value or one bucket, not both"),
        ({"bucket": "nobody"}, "bucket: &#x27;nobody&#x27; is not one of untagged, invalid"),
        ({"region": "moon-1"}, "region: &#x27;moon-1&#x27; is not an AWS region name"),
        ({"download": "pdf"}, "download: unknown export &#x27;pdf&#x27;; use csv"),
    ],
)
def test_bad_input_gets_a_clear_400(
    billed: Scan, charlie: User, params: dict[str, str], message: str
) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_one_period_has_no_lines_yet(billed: Scan, charlie: User) -> None:
    html = page(signed_in(charlie, Role.ADMIN), tag_key="Environment")
    assert table(html, "trend") == [["2024-05", "$80.00", "$9.57", "$3.33", "$19.00"]]
    assert "One billing period loaded: the lines start with the next bill." in html


def test_the_trend_shows_the_top_values_of_the_chosen_period_each_month(
    billed: Scan, charlie: User, tmp_path: Path
) -> None:
    june = focus_row(
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
    do_import_costs(str(write_csv(tmp_path / "june.csv", FOCUS_HEADER, [june])), acting=Operator())
    html = page(signed_in(charlie, Role.ADMIN), tag_key="Environment", period="2024-05")
    assert table(html, "trend") == [
        ["2024-05", "$80.00", "$9.57", "$3.33", "$19.00"],
        ["2024-06", "$0.00", "$1.00", "$0.00", "$0.00"],  # 1.005, half to even
    ]
    captions = re.findall(r'<figcaption class="chart-caption">([^<]+)</figcaption>', html)
    assert captions == ["Spend per value", "development", "production", "Untagged"]


def test_without_a_bill_the_page_says_how_to_load_one(estate: Scan, alice: User) -> None:
    html = page(signed_in(alice, Role.VIEWER, A))
    assert "Load a bill with <code>manage.py import_costs</code>" in html
    assert "Total spend" not in html


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST, Role.ADMIN])
def test_every_role_that_sees_costs_sees_the_page(billed: Scan, alice: User, role: Role) -> None:
    html = page(signed_in(alice, role, A))
    assert "<h1>Allocation</h1>" in html
    assert 'aria-current="page">Allocation</a>' in html


def test_no_role_is_refused_and_audited(billed: Scan, bob: User) -> None:
    response = signed_in(bob, None).get(URL)
    assert response.status_code == 403
    (denied,) = AuditEvent.objects.filter(event_type=EventType.PERMISSION_DENIED)
    assert (denied.actor_id, denied.detail["action"], denied.target) == (bob.pk, "view", URL)
    assert "team-a" not in response.content.decode()
    assert Client().get(URL).status_code == 302
