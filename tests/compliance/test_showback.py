"""Showback (compliance.reads.showback): the spend of each value of a tag key, and what no value
owns, exact and adding up to the period's total, for the reader, the command and the tool."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance import reads
from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy
from compliance.permissions.accounts import Operator
from compliance.reads.showback import ShowbackError, ShowbackRow
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import (
    BUCKET,
    FOCUS_HEADER,
    FOCUS_ROWS,
    I_AAA,
    I_BBB,
    I_CCC,
    ORDERS,
    A,
    build_estate,
    focus_row,
    write_csv,
)
from tests.conftest import grant

pytestmark = pytest.mark.django_db

KEY = "CostCenter"
QUEUE = f"arn:aws:sqs:us-east-1:{A}:jobs"
#: The bill of ``bills`` and one more line, on a queue whose key is in the wrong letter case.
ROWS = [*FOCUS_ROWS, focus_row(A, "us-east-1", "Amazon SQS", QUEUE, "Usage", "1.234", "1.234")]

#: The answers, worked out by hand from ``bills`` (May 2024, USD):
#: cc-200: i-0ccc 80.00 (account B); cc-100: i-0aaa 7.0712345 + 2.5 and i-0bbb 20.005 - 1.005;
#: invalid: the bucket's "bogus", 3.333; untagged: the queue ("costcenter"), 1.234 (the RDS
#: database is untagged too, but the bill does not charge it); unattributable: tax 4.20 and
#: 8.00, support 9.99; unmatched: i-0zzz, 5.55.
CC_100 = Decimal("28.5712345")
CC_200 = Decimal("80.00")
INVALID = Decimal("3.333")
UNTAGGED = Decimal("1.234")
UNATTRIBUTABLE = Decimal("22.19")
UNMATCHED = Decimal("5.55")
TOTAL = Decimal("140.8782345")


def build_showback_estate(tmp_path: Path) -> None:
    """The estate of ``bills`` tagged with ``CostCenter``, a policy allowing two values, and the
    May bill imported."""
    build_estate()
    policy = TaggingPolicy.objects.get(is_active=True)
    policy.document = {
        "required_tags": [
            {"name": "Owner"},
            {"name": "Environment"},
            {"name": "Project"},
            {"name": KEY, "allowed_values": ["cc-100", "cc-200"]},
        ]
    }
    policy.save()
    tags = {
        I_AAA: {KEY: "cc-100", "Owner": "ann"},
        I_BBB: {KEY: "cc-100"},
        I_CCC: {KEY: "cc-200"},
        BUCKET: {KEY: "bogus"},
        ORDERS: {},
    }
    for arn, value in tags.items():
        Resource.objects.filter(arn=arn).update(tags=value)
    now = timezone.now()
    Resource.objects.create(
        arn=QUEUE,
        account=AwsAccount.objects.get(account_id=A),
        region="us-east-1",
        resource_type="sqs:queue",
        name="jobs",
        tags={"costcenter": "cc-100"},
        first_seen_at=now,
        last_seen_at=now,
        last_seen_scan=Scan.objects.get(),
        is_compliant=False,
    )
    do_import_costs(str(write_csv(tmp_path / "focus.csv", FOCUS_HEADER, ROWS)), acting=Operator())


@pytest.fixture
def estate(tmp_path: Path) -> None:
    build_showback_estate(tmp_path)


def no_rules_row(value: str, spend: Decimal, count: int) -> ShowbackRow:
    """A valid value's row where no allocation rule exists: as allocated is as tagged."""
    return ShowbackRow(value, spend, count, True, spend, count)


def adds_up(showback: reads.Showback) -> bool:
    return showback.total_spend == (
        sum((row.spend for row in showback.rows), Decimal(0))
        + showback.untagged_spend
        + showback.invalid_spend
        + showback.unattributable_spend
        + showback.unmatched_resource_spend
    )


def test_every_bucket_exact(estate: None) -> None:
    showback = reads.spend_by_tag(Operator(), KEY)

    assert showback.rows == [
        no_rules_row("cc-200", CC_200, 1),
        no_rules_row("cc-100", CC_100, 2),
    ]
    assert (showback.untagged_spend, showback.untagged_count) == (UNTAGGED, 1)
    assert (showback.invalid_spend, showback.invalid_count) == (INVALID, 1)
    assert showback.invalid_rows == [ShowbackRow("bogus", INVALID, 1, False)]
    assert showback.unattributable_spend == UNATTRIBUTABLE
    assert showback.unmatched_resource_spend == UNMATCHED
    assert showback.total_spend == TOTAL
    assert adds_up(showback)


def test_the_period_source_and_currency_are_the_bills(estate: None) -> None:
    showback = reads.spend_by_tag(Operator(), KEY)

    assert (showback.billing_period_start, showback.currency, showback.cost_source) == (
        date(2024, 5, 1),
        "USD",
        "focus",
    )
    assert showback.scan is not None
    assert showback.scan["id"] == Scan.objects.get().pk


def test_the_total_is_the_attributions_total(estate: None) -> None:
    assert reads.spend_by_tag(Operator(), KEY).total_spend == (
        reads.cost_attribution(Operator()).total_spend
    )


def test_a_key_the_policy_does_not_govern_has_every_value_valid(estate: None) -> None:
    showback = reads.spend_by_tag(Operator(), "Owner")

    assert showback.rows == [no_rules_row("ann", Decimal("9.5712345"), 1)]
    assert (showback.invalid_spend, showback.invalid_count) == (Decimal(0), 0)
    assert showback.untagged_spend == CC_100 - Decimal("9.5712345") + CC_200 + INVALID + UNTAGGED
    assert adds_up(showback)


def test_a_viewer_of_one_account_sees_only_its_spend(estate: None, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))

    showback = reads.spend_by_tag(alice, KEY)

    assert showback.rows == [no_rules_row("cc-100", CC_100, 2)]
    assert showback.unattributable_spend == Decimal("14.19")
    assert showback.total_spend == TOTAL - CC_200 - Decimal("8.00")
    assert adds_up(showback)


def test_a_viewer_without_accounts_sees_no_money(estate: None, bob: User) -> None:
    showback = reads.spend_by_tag(bob, KEY)

    assert (showback.billing_period_start, showback.rows, showback.total_spend) == (
        None,
        [],
        Decimal(0),
    )


def test_an_account_the_viewer_may_not_see_is_refused(estate: None, alice: User) -> None:
    grant(alice, AwsAccount.objects.get(account_id=A))

    with pytest.raises(reads.AccountNotVisible):
        reads.spend_by_tag(alice, KEY, accounts=["222222222222"])


def test_an_unknown_period_is_a_clear_error(estate: None) -> None:
    with pytest.raises(ShowbackError, match=r"billing_period: no bill is loaded for 2024-04"):
        reads.spend_by_tag(Operator(), KEY, period=date(2024, 4, 1))


def test_an_empty_key_is_refused(estate: None) -> None:
    with pytest.raises(ShowbackError, match="tag_key"):
        reads.spend_by_tag(Operator(), "")


def test_filters_narrow_the_charges(estate: None) -> None:
    by_service = reads.spend_by_tag(Operator(), KEY, services=["Amazon S3"])
    by_region = reads.spend_by_tag(Operator(), KEY, regions=["eu-west-1"])
    by_type = reads.spend_by_tag(Operator(), KEY, resource_types=["sqs:queue"])

    assert (by_service.rows, by_service.invalid_spend, by_service.total_spend) == (
        [],
        INVALID,
        INVALID,
    )
    assert (by_region.rows, by_region.total_spend) == (
        [no_rules_row("cc-200", CC_200, 1)],
        CC_200,
    )
    assert (by_type.untagged_spend, by_type.total_spend) == (UNTAGGED, UNTAGGED)


def test_the_breakdown_of_a_value(estate: None) -> None:
    breakdown = reads.spend_by_tag_breakdown(Operator(), KEY, "cc-100")

    assert breakdown == {"by_account": {A: CC_100}, "by_service": {"Amazon EC2": CC_100}}


def test_the_breakdown_of_the_untagged_bucket(estate: None) -> None:
    breakdown = reads.spend_by_tag_breakdown(Operator(), KEY, None, bucket="untagged")

    assert breakdown == {"by_account": {A: UNTAGGED}, "by_service": {"Amazon SQS": UNTAGGED}}


def test_the_resources_of_a_value_add_up_to_its_spend(estate: None) -> None:
    found = reads.resources_with_tag_value(Operator(), KEY, "cc-100")

    assert [(r.arn, r.spend) for r in found] == [
        (I_BBB, Decimal("19.000")),
        (I_AAA, Decimal("9.5712345")),
    ]


def test_the_resources_of_the_invalid_bucket(estate: None) -> None:
    found = reads.resources_with_tag_value(Operator(), KEY, None, bucket="invalid")

    assert [(r.arn, r.value, r.spend) for r in found] == [(BUCKET, "bogus", INVALID)]


def test_an_unknown_bucket_is_refused(estate: None) -> None:
    with pytest.raises(ShowbackError, match="bucket"):
        reads.resources_with_tag_value(Operator(), KEY, None, bucket="nobody")


def test_the_trend_per_period(estate: None, tmp_path: Path) -> None:
    june = [
        focus_row(
            A,
            "us-east-1",
            "Amazon EC2",
            I_AAA,
            "Usage",
            "2.00",
            "2.00",
            start="2024-06-01T00:00:00Z",
            end="2024-07-01T00:00:00Z",
        )
    ]
    do_import_costs(str(write_csv(tmp_path / "june.csv", FOCUS_HEADER, june)), acting=Operator())

    trend = reads.spend_by_tag_trend(Operator(), KEY)

    assert trend == [
        (
            date(2024, 5, 1),
            {"cc-200": CC_200, "cc-100": CC_100, "(untagged)": UNTAGGED, "(invalid)": INVALID},
        ),
        (
            date(2024, 6, 1),
            {"cc-100": Decimal("2.00"), "(untagged)": Decimal(0), "(invalid)": Decimal(0)},
        ),
    ]
    assert reads.spend_by_tag_trend(Operator(), KEY, months=1)[0][0] == date(2024, 6, 1)


# --- The command -------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("showback", *args, stdout=out)
    return out.getvalue()


def test_the_command_gives_the_readers_numbers_as_json(estate: None) -> None:
    result = json.loads(run("--tag", KEY))

    assert [(r["value"], r["spend"], r["resource_count"], r["valid"]) for r in result["rows"]] == [
        ("cc-200", "80.00", 1, True),
        ("cc-100", "28.57", 2, True),
    ]
    assert {
        name: result[name]
        for name in (
            "billing_period_start",
            "untagged_spend",
            "invalid_spend",
            "unattributable_spend",
            "unmatched_resource_spend",
            "total_spend",
        )
    } == {
        "billing_period_start": "2024-05-01",
        "untagged_spend": "1.23",
        "invalid_spend": "3.33",
        "unattributable_spend": "22.19",
        "unmatched_resource_spend": "5.55",
        "total_spend": "140.88",
    }


def test_the_command_narrows_to_an_account_and_a_period(estate: None) -> None:
    result = json.loads(run("--tag", KEY, "--period", "2024-05", "--account", "222222222222"))

    assert [r["value"] for r in result["rows"]] == ["cc-200"]
    assert result["total_spend"] == "88.00"


def test_the_command_csv_keeps_tag_values_from_being_formulas(estate: None) -> None:
    Resource.objects.filter(arn=I_CCC).update(tags={KEY: "=cmd|' /C calc'!A0"})

    rows = list(csv.DictReader(io.StringIO(run("--tag", "CostCenter", "--format", "csv"))))

    values = [row for row in rows if row["field"] == "rows"]
    assert [(row["value"], row["spend"]) for row in values] == [("cc-100", "28.57")]
    invalid = next(row for row in rows if row["field"] == "invalid_spend")
    assert (invalid["spend"], invalid["resource_count"]) == ("83.33", "2")
    assert all(not row["value"].startswith("=") for row in rows)


def test_the_command_csv_quotes_a_formula_value(estate: None) -> None:
    Resource.objects.filter(arn=I_CCC).update(tags={"Team": "=HYPERLINK(1)"})

    rows = list(csv.DictReader(io.StringIO(run("--tag", "Team", "--format", "csv"))))

    assert [row["value"] for row in rows if row["field"] == "rows"] == ["'=HYPERLINK(1)"]


def test_the_command_markdown_escapes_tag_values(estate: None) -> None:
    Resource.objects.filter(arn=I_CCC).update(tags={"Team": "[x](http://evil.example)"})

    text = run("--tag", "Team", "--format", "markdown")

    assert "| \\[x\\]\\(http\\://evil.example\\) | 80.00 | 1 | yes |" in text
    assert "| **Total** | 140.88 |  |" in text


def test_the_command_refuses_a_bad_period(estate: None) -> None:
    with pytest.raises(CommandError, match="YYYY-MM"):
        run("--tag", KEY, "--period", "2024-5")


def test_the_command_refuses_a_period_without_a_bill(estate: None) -> None:
    with pytest.raises(CommandError, match="no bill is loaded for 2023-01"):
        run("--tag", KEY, "--period", "2023-01")
