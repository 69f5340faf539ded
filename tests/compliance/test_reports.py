"""The compliance report's money: exact figures to the cent in JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from compliance.permissions.accounts import Operator
from compliance.reads import reports
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import (
    BUCKET,
    FOCUS_HEADER,
    FOCUS_ROWS,
    I_BBB,
    I_CCC,
    build_estate,
    focus_row,
    write_csv,
)

pytestmark = pytest.mark.django_db

#: FOCUS_ROWS attributed (see tests/compliance/billing/bills.py), rounded half to even.
MONEY = {
    "cost_source": "focus",
    "estimate_method": None,
    "billing_period_start": "2024-05-01",
    "billing_period_end": "2024-06-01",
    "currency": "USD",
    "total_spend": "139.64",  # 139.6442345
    "attributable_spend": "9.57",  # 9.5712345
    "attribution_gap": "102.33",  # 102.333
    "unattributable_spend": "22.19",
    "unmatched_resource_spend": "5.55",
    "untagged_spend": {"Environment": "19.00", "Owner": "22.33", "Project": "80.00"},
}


@pytest.fixture
def billed(tmp_path: Path) -> None:
    build_estate()
    do_import_costs(str(write_csv(tmp_path / "f.csv", FOCUS_HEADER, FOCUS_ROWS)), acting=Operator())


def test_json_report_carries_the_spend_figures_as_cent_strings(billed: None) -> None:
    report = json.loads(reports.render_json(reports.build_report(Operator())))
    assert {key: report[key] for key in MONEY} == MONEY
    assert [
        (v["resource_arn"], v["tag_name"], v["cost_impact_monthly"]) for v in report["violations"]
    ] == [
        (I_CCC, "Project", "80.00"),
        (I_BBB, "Environment", "19.00"),  # 20.005 usage - 1.005 credit
        (I_BBB, "Owner", "19.00"),
        (BUCKET, "Owner", "3.33"),  # 3.333
    ]


def test_report_without_costs_says_unknown_rather_than_zero() -> None:
    build_estate()
    report = reports.build_report(Operator())
    assert report["cost_source"] is None
    assert report["total_spend"] is None
    assert report["untagged_spend"] == {}
    assert {v["cost_impact_monthly"] for v in report["violations"]} == {None}
    markdown = reports.render_markdown(report)
    assert "No costs loaded" in markdown
    assert "| n/a |" in markdown
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(report))))
    assert {row["cost_impact_monthly"] for row in rows} == {""}


def test_csv_report_has_the_cost_impact_column(billed: None) -> None:
    rows = list(csv.DictReader(io.StringIO(reports.render_csv(reports.build_report(Operator())))))
    assert list(rows[0]) == [*reports.VIOLATION_COLUMNS, "cost_impact_monthly"]
    assert [(row["resource_arn"], row["cost_impact_monthly"]) for row in rows] == [
        (I_CCC, "80.00"),
        (I_BBB, "19.00"),
        (I_BBB, "19.00"),
        (BUCKET, "3.33"),
    ]


def test_a_negative_cost_stays_a_number_in_the_csv(tmp_path: Path) -> None:
    build_estate()
    rows = [
        focus_row("111111111111", "us-east-1", "Amazon S3", "logs-bucket", "Credit", "-2.5", "-2.5")
    ]
    do_import_costs(str(write_csv(tmp_path / "c.csv", FOCUS_HEADER, rows)), acting=Operator())
    text = reports.render_csv(reports.build_report(Operator()))
    assert f"{BUCKET},s3:bucket" in text
    assert {row["cost_impact_monthly"] for row in csv.DictReader(io.StringIO(text))} == {
        "-2.50",  # the bucket's credit
        "0.00",  # in the inventory, not in this bill
    }


def test_markdown_report_has_a_money_section_and_ranks_violations_by_cost(billed: None) -> None:
    markdown = reports.render_markdown(reports.build_report(Operator()))
    money = markdown.split("## Money\n", 1)[1].split("\n## ", 1)[0]
    assert "Billing period 2024-05-01 to 2024-06-01, from the imported FOCUS bill, in USD" in money
    for line in (
        "| Total | 139.64 |",
        "| Attributable (resources with no violation) | 9.57 |",
        "| Attribution gap (resources with a violation) | 102.33 |",
        "| Unattributable (no resource: tax, support, credits) | 22.19 |",
        "| On resources not in the inventory | 5.55 |",
        "| Environment | 19.00 | 19.00 |",
        "| Owner | 22.33 | 22.33 |",
        "| Project | 80.00 | 80.00 |",
    ):
        assert line in money.splitlines()
    top = markdown.split("highest monthly cost first)\n", 1)[1].splitlines()[3:7]
    assert [(line.split(" | ")[0][2:], line.split(" | ")[-1]) for line in top] == [
        (I_CCC, "80.00 |"),
        (I_BBB, "19.00 |"),
        (I_BBB, "19.00 |"),
        (BUCKET, "3.33 |"),
    ]


def test_markdown_ranks_violations_by_cost_not_by_arn(tmp_path: Path) -> None:
    build_estate()
    a, b = "111111111111", "222222222222"
    rows = [
        focus_row(a, "us-east-1", "Amazon S3", "logs-bucket", "Usage", "500.004", "500.004"),
        focus_row(a, "us-east-1", "Amazon EC2", "i-0bbb", "Usage", "0.5", "0.5"),
        focus_row(b, "eu-west-1", "Amazon EC2", I_CCC, "Usage", "80.006", "80.006"),
    ]
    do_import_costs(str(write_csv(tmp_path / "r.csv", FOCUS_HEADER, rows)), acting=Operator())
    markdown = reports.render_markdown(reports.build_report(Operator()), top=3)
    table = markdown.split("## Violations (first 3, highest monthly cost first)\n", 1)[1]
    assert table.splitlines()[3:6] == [
        f"| {BUCKET} | missing_required_tag | Owner |  | 500.00 |",
        f"| {I_CCC} | missing_required_tag | Project |  | 80.01 |",
        f"| {I_BBB} | missing_required_tag | Environment |  | 0.50 |",
    ]
