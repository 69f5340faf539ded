"""Resource tags read from the bill: FOCUS ``Tags`` and CUR 2.0 ``resource_tags``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from compliance.core.billing import BillError, read_bill
from compliance.core.costs import billed_resource_type
from tests.compliance.billing.bills import (
    CUR_HEADER,
    FOCUS_HEADER,
    FOCUS_ROWS,
    A,
    cur_row,
    focus_row,
    write_csv,
)

TAGGED_HEADER = [*FOCUS_HEADER, "Tags"]


def tagged(row: list[str], tags: str, charged_from: str = "2024-05-03T10:00:00Z") -> list[str]:
    row = list(row)
    row[3] = charged_from
    return [*row, tags]


def usage(resource: str, cost: str) -> list[str]:
    return focus_row(A, "us-east-1", "Amazon EC2", resource, "Usage", cost, cost)


def tags_of(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    (period,) = read_bill(str(path)).periods
    assert period.resource_tags is not None
    return period.resource_tags


def test_focus_user_tags_lose_their_prefix_and_aws_tags_keep_theirs(tmp_path: Path) -> None:
    cell = json.dumps({"user:CostCenter": "cc-1", "aws:createdBy": "AROA:me", "Team": "web"})
    path = write_csv(tmp_path / "f.csv", TAGGED_HEADER, [tagged(usage("i-01", "1.00"), cell)])
    assert tags_of(path) == {
        (A, "i-01"): {"CostCenter": "cc-1", "aws:createdBy": "AROA:me", "Team": "web"}
    }


@pytest.mark.parametrize("cell", ["", "NULL", " null ", "{}", "null"])
def test_an_empty_tags_cell_holds_no_tags(tmp_path: Path, cell: str) -> None:
    path = write_csv(tmp_path / "f.csv", TAGGED_HEADER, [tagged(usage("i-01", "1.00"), cell)])
    assert tags_of(path) == {(A, "i-01"): {}}


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ('{"user:Owner": ', "not a JSON object of tag keys to values"),
        ('["Owner"]', "not a JSON object of tag keys to text values"),
        ('{"user:Owner": 3}', "not a JSON object of tag keys to text values"),
        ("[" * 800_000, "longer than 772000 characters"),
        ("[" * 50_000, "not a JSON object of tag keys to values"),
        (json.dumps({f"user:k{i}": "v" for i in range(501)}), "501 tags, more than the 500"),
        ('{"user:CostCenter": "a", "user_CostCenter": "b"}', "two keys name the tag 'CostCenter'"),
        ('{"CostCenter": "a", "user:CostCenter": "b"}', "two keys name the tag 'CostCenter'"),
    ],
)
def test_a_malformed_tags_cell_is_refused_with_row_and_column(
    tmp_path: Path, cell: str, problem: str
) -> None:
    rows = [tagged(usage("i-01", "1.00"), "{}"), tagged(usage("i-02", "1.00"), cell)]
    path = write_csv(tmp_path / "f.csv", TAGGED_HEADER, rows)
    with pytest.raises(BillError, match=rf"^row 2, column Tags: {problem}"):
        read_bill(str(path))


def test_the_tags_of_the_latest_charge_period_win_whatever_the_row_order(
    tmp_path: Path,
) -> None:
    late = tagged(usage("i-01", "10.00"), '{"user:Owner": "bob"}', "2024-05-20T00:00:00Z")
    early = tagged(
        usage("i-01", "2.34"), '{"user:Owner": "ann", "user:Project": "p"}', "2024-05-02T00:00Z"
    )
    path = write_csv(tmp_path / "f.csv", TAGGED_HEADER, [late, early])
    (period,) = read_bill(str(path)).periods
    assert period.resource_tags == {(A, "i-01"): {"Owner": "bob"}}
    (billed,) = period.billed_resources()
    assert (billed.resource_id, billed.effective_cost, billed.tags) == (
        "i-01",
        Decimal("12.34"),
        {"Owner": "bob"},
    )
    assert len(period.lines) == 1  # tags never split a cost line


def test_over_long_keys_and_values_are_cut_as_a_scan_cuts_them(tmp_path: Path) -> None:
    cell = json.dumps({"user:" + "k" * 200: "v" * 300})
    path = write_csv(tmp_path / "f.csv", TAGGED_HEADER, [tagged(usage("i-01", "1.00"), cell)])
    ((key, value),) = tags_of(path)[(A, "i-01")].items()
    assert key == "k" * 127 + "…"
    assert value == "v" * 255 + "…"


def test_a_bill_without_a_tags_column_carries_none(tmp_path: Path) -> None:
    bill = read_bill(str(write_csv(tmp_path / "f.csv", FOCUS_HEADER, FOCUS_ROWS)))
    assert bill.carries_tags is False
    assert bill.periods[0].resource_tags is None
    assert bill.periods[0].billed_resources() == []


def test_charges_without_a_resource_are_no_billed_resource(tmp_path: Path) -> None:
    tax = focus_row(A, "", "Amazon EC2", "", "Tax", "4.20", "4.20")
    rows = [tagged(tax, '{"user:Owner": "x"}'), tagged(usage("i-01", "1.00"), "")]
    bill = read_bill(str(write_csv(tmp_path / "f.csv", TAGGED_HEADER, rows)))
    assert bill.carries_tags is True
    assert [b.resource_id for b in bill.periods[0].billed_resources()] == ["i-01"]


CUR_TAGGED_HEADER = [*CUR_HEADER, "resource_tags", "line_item_usage_start_date"]


def test_cur_resource_tags_lose_the_user_prefix(tmp_path: Path) -> None:
    cell = json.dumps({"user_CostCenter": "cc-9", "aws_createdBy": "me"})
    row = [*cur_row("Usage", "i-0cur", "4.00"), cell, "2024-05-03T00:00:00Z"]
    (period,) = read_bill(str(write_csv(tmp_path / "c.csv", CUR_TAGGED_HEADER, [row]))).periods
    assert period.resource_tags is not None
    assert list(period.resource_tags.values()) == [{"CostCenter": "cc-9", "aws:createdBy": "me"}]


def test_cur_parquet_map_column_is_read(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = cur_row("Usage", "i-0cur", "4.00")
    columns: dict[str, pa.Array] = {name: pa.array([row[i]]) for i, name in enumerate(CUR_HEADER)}
    columns["resource_tags"] = pa.array(
        [[("user_Owner", "ann"), ("user_Project", "p")]], type=pa.map_(pa.string(), pa.string())
    )
    path = tmp_path / "c.parquet"
    pq.write_table(pa.table(columns), path)
    (period,) = read_bill(str(path)).periods
    assert period.resource_tags is not None
    assert list(period.resource_tags.values()) == [{"Owner": "ann", "Project": "p"}]


@pytest.mark.parametrize(
    ("resource_id", "resource_type"),
    [
        (f"arn:aws:ec2:us-east-1:{A}:instance/i-0abc", "ec2:instance"),
        (f"arn:aws:rds:us-east-1:{A}:db:orders", "rds:db"),
        ("arn:aws:s3:::logs-bucket", "s3:bucket"),
        (f"arn:aws:sqs:us-east-1:{A}:jobs", "sqs:queue"),
        (f"arn:aws:logs:us-east-1:{A}:log-group:/app", "logs:log-group"),
        (
            f"arn:aws:elasticloadbalancing:us-east-1:{A}:loadbalancer/app/w/1",
            "elasticloadbalancing:loadbalancer",
        ),
        ("i-0abc", ""),
        (f"arn:aws:glue:us-east-1:{A}:catalog", ""),
    ],
)
def test_resource_type_from_the_bill_id(resource_id: str, resource_type: str) -> None:
    assert billed_resource_type(resource_id) == resource_type
