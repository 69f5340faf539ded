"""The violations page: rules (tag key x violation type) with counts, resources and the money at
stake, filters, exemptions apart, each figure over the signed-in user's accounts only."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from compliance.models import Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.reads.violation_rules import violations_by_rule
from compliance.writes.exemptions import do_create_exemption
from tests.compliance.billing.bills import (
    BUCKET,
    I_BBB,
    I_CCC,
    A,
    B,
)
from tests.compliance.views.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/violations/"


# bills.py's estate: i-0bbb misses Owner and Environment, the bucket Owner (both in A), i-0ccc
# Project (in B); billed, i-0bbb costs 19.000, the bucket 3.333, i-0ccc 80.00 in the May bill.


def rule_rows(html: str) -> list[tuple[str, ...]]:
    """The rules table as (tag, type, violations, resources, cost, exempted), in page order."""
    body = html.split("<caption>Rules broken", 1)[1].split("</table>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)[1:]:
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        ]
        rows.append(tuple(cells[:6]))
    return rows


def test_rules_are_ranked_by_cost_with_counts_resources_and_money(
    billed: Scan, charlie: User
) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert rule_rows(html) == [
        ("Project", "Missing required tag", "1", "1", "$80.00", "0"),
        ("Owner", "Missing required tag", "2", "2", "$22.33", "0"),  # 19.000 + 3.333
        ("Environment", "Missing required tag", "1", "1", "$19.00", "0"),
    ]
    # The three resources once each: 80 + 19 + 3.333, the attribution gap of the bill.
    assert "<dt>Monthly cost of those resources</dt><dd>$102.33</dd>" in html
    assert "<dt>Violations</dt><dd>4</dd>" in html
    assert "<dt>Resources with violations</dt><dd>3</dd>" in html
    assert "<dt>Exempted violations (not counted)</dt><dd>0</dd>" in html
    assert 'href="/resources/?tag_key=Owner&amp;violation_type=missing_required_tag"' in html
    assert "Monthly cost at stake per rule" in html  # the bar chart, money on its bars


def test_breakdown_money_is_exact_before_rounding(billed: Scan) -> None:
    breakdown = violations_by_rule(Operator())
    owner = next(rule for rule in breakdown.rules if rule.tag_name == "Owner")
    assert owner.cost_at_stake == Decimal("22.333")
    assert breakdown.cost_at_stake == Decimal("102.333")


def test_without_costs_rules_rank_by_violations_and_say_no_costs(
    estate: Scan, charlie: User
) -> None:
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert rule_rows(html) == [
        ("Owner", "Missing required tag", "2", "2", "n/a", "0"),
        ("Environment", "Missing required tag", "1", "1", "n/a", "0"),
        ("Project", "Missing required tag", "1", "1", "n/a", "0"),
    ]
    assert "no costs loaded" in html
    assert "Violations per rule" in html


def test_a_viewer_of_one_account_sees_only_its_rules_and_money(billed: Scan, alice: User) -> None:
    html = signed_in(alice, Role.VIEWER, A).get(URL).content.decode()
    assert rule_rows(html) == [
        ("Owner", "Missing required tag", "2", "2", "$22.33", "0"),
        ("Environment", "Missing required tag", "1", "1", "$19.00", "0"),
    ]
    assert "<dt>Monthly cost of those resources</dt><dd>$22.33</dd>" in html
    assert "<dt>Violations</dt><dd>3</dd>" in html
    for secret in (I_CCC, "i-0ccc", B, "$80.00", "$102.33", "tag_key=Project"):
        assert secret not in html
    # Asking for the other account is refused like an unknown one.
    refused = signed_in(alice, Role.VIEWER).get(URL, {"account": B})
    assert refused.status_code == 400
    assert "not found or not visible to you" in refused.content.decode()


def test_filters_narrow_the_rules(billed: Scan, charlie: User) -> None:
    client = signed_in(charlie, Role.ADMIN)
    by_account = client.get(URL, {"account": B}).content.decode()
    assert rule_rows(by_account) == [("Project", "Missing required tag", "1", "1", "$80.00", "0")]
    by_type = client.get(URL, {"type": "s3:bucket"}).content.decode()
    assert rule_rows(by_type) == [("Owner", "Missing required tag", "1", "1", "$3.33", "0")]
    by_region = client.get(URL, {"region": "eu-west-1"}).content.decode()
    assert [row[0] for row in rule_rows(by_region)] == ["Project"]
    by_tag = client.get(URL, {"tag": "Environment"}).content.decode()
    assert rule_rows(by_tag) == [("Environment", "Missing required tag", "1", "1", "$19.00", "0")]
    by_kind = client.get(URL, {"violation_type": "invalid_value"}).content.decode()
    assert "No violations match these filters." in by_kind
    assert 'option value="invalid_value" selected' in by_kind


def test_exempted_violations_are_counted_apart(billed: Scan, charlie: User) -> None:
    do_create_exemption(
        reason="Log bucket owned by the platform team",
        owner="charlie",
        expires_at=timezone.now() + timedelta(days=30),
        resource_arn=BUCKET,
        tag_key="Owner",
        acting=Operator(),
    )
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert rule_rows(html) == [
        ("Project", "Missing required tag", "1", "1", "$80.00", "0"),
        # Same cost, same count: by tag key.
        ("Environment", "Missing required tag", "1", "1", "$19.00", "0"),
        ("Owner", "Missing required tag", "1", "1", "$19.00", "1"),
    ]
    assert "<dt>Exempted violations (not counted)</dt><dd>1</dd>" in html
    assert "<dt>Violations</dt><dd>3</dd>" in html
    assert "<dt>Monthly cost of those resources</dt><dd>$99.00</dd>" in html
    assert I_BBB not in html  # rules, not resources: the resources page lists those


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"violation_type": "nonsense"}, "violation_type: unknown type &#x27;nonsense&#x27;"),
        ({"region": "Mars"}, "region: &#x27;Mars&#x27; is not an AWS region name"),
        ({"type": "EC2 instance"}, "is not a resource type of the form"),
        ({"tag": "x" * 200}, "tag: a tag key has at most 128 characters"),
        ({"account": "999999999999"}, "account: not found or not visible to you: 999999999999"),
    ],
)
def test_bad_parameters_get_a_clear_400(
    estate: Scan, charlie: User, params: dict[str, str], message: str
) -> None:
    response = signed_in(charlie, Role.ADMIN).get(URL, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_no_scan_yet_says_run_one(charlie: User) -> None:
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert "No scan yet" in html
    assert 'href="/scans/"' in html


def test_no_violations_says_so(estate: Scan, charlie: User) -> None:
    from compliance.models import Violation

    Violation.objects.all().delete()
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert "No violations: every resource in your accounts complies" in html
    assert "<dt>Violations</dt><dd>0</dd>" in html


def test_signed_out_is_sent_to_sign_in_and_no_role_is_refused(estate: Scan, bob: User) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert signed_in(bob, None).get(URL).status_code == 403


def test_a_rule_whose_every_violation_is_exempted_stays_listed_with_nothing_counted(
    billed: Scan, charlie: User
) -> None:
    do_create_exemption(
        reason="Data account projects are tracked elsewhere",
        owner="charlie",
        expires_at=timezone.now() + timedelta(days=30),
        account_id=B,
        tag_key="Project",
        acting=Operator(),
    )
    html = signed_in(charlie, Role.ADMIN).get(URL).content.decode()
    assert rule_rows(html)[-1] == ("Project", "Missing required tag", "0", "0", "$0.00", "1")
    assert "<dt>Monthly cost of those resources</dt><dd>$22.33</dd>" in html
    assert "<dt>Exempted violations (not counted)</dt><dd>1</dd>" in html
    assert "Project · missing" not in html  # not charted: nothing at stake
    assert "Owner · missing" in html
