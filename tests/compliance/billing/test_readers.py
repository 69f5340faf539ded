"""Reading bills: FOCUS and CUR 2.0, CSV / CSV.gz / Parquet, summed exactly, refused precisely."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from compliance.core.billing import BillError, read_bill
from tests.compliance.billing.bills import (
    BILLED_TOTAL,
    CUR_HEADER,
    CUR_ROWS,
    FOCUS_HEADER,
    FOCUS_ROWS,
    I_AAA,
    JUNE,
    MAY,
    TOTAL,
    A,
    B,
    cur_row,
    focus_row,
    write_csv,
    write_focus_parquet,
    write_gz,
)


def lines_by_key(
    path: Path, fmt: str | None = None
) -> dict[tuple[str, ...], tuple[Decimal, Decimal, int]]:
    bill = read_bill(str(path), fmt)
    (period,) = bill.periods
    return {
        (line.account_id, line.resource_id, line.charge_category): (
            line.effective_cost,
            line.billed_cost,
            line.row_count,
        )
        for line in period.lines
    }


@pytest.mark.parametrize("writer", ["csv", "gz", "parquet"])
def test_focus_bill_sums_rows_per_resource_exactly(tmp_path: Path, writer: str) -> None:
    if writer == "csv":
        path = write_csv(tmp_path / "focus.csv", FOCUS_HEADER, FOCUS_ROWS)
    elif writer == "gz":
        path = write_gz(tmp_path / "focus.csv.gz", FOCUS_HEADER, FOCUS_ROWS)
    else:
        path = write_focus_parquet(tmp_path / "focus.parquet", FOCUS_ROWS)
    bill = read_bill(str(path))
    assert (bill.format, bill.currency, bill.row_count) == ("focus", "USD", 10)
    (period,) = bill.periods
    assert (period.start, period.end) == (MAY, JUNE)
    assert period.account_ids == [A, B]
    assert period.effective_total == TOTAL
    assert period.billed_total == BILLED_TOTAL
    assert period.totals_by_category() == {
        "Usage": Decimal("128.4492345"),
        "Tax": Decimal("12.20"),
        "Credit": Decimal("-1.005"),
    }
    lines = lines_by_key(path)
    # Two usage rows of one instance are one aggregate; its credit stays a line of its own.
    assert lines[(A, I_AAA, "Usage")] == (Decimal("9.5712345"), Decimal("10.10"), 2)
    assert lines[(A, "i-0bbb", "Credit")] == (Decimal("-1.005"), Decimal("-1.005"), 1)
    assert lines[(A, "", "Tax")] == (Decimal("4.20"), Decimal("4.20"), 1)
    assert len(lines) == 9


def test_focus_effective_cost_falls_back_to_billed_cost(tmp_path: Path) -> None:
    header = [c for c in FOCUS_HEADER if c != "EffectiveCost"]
    rows = [
        [v for c, v in zip(FOCUS_HEADER, row, strict=True) if c != "EffectiveCost"]
        for row in FOCUS_ROWS
    ]
    bill = read_bill(str(write_csv(tmp_path / "focus05.csv", header, rows)))
    assert bill.periods[0].effective_total == BILLED_TOTAL
    empty = [focus_row(A, "us-east-1", "Amazon EC2", I_AAA, "Usage", "1.25", "")]
    assert read_bill(str(write_csv(tmp_path / "e.csv", FOCUS_HEADER, empty))).periods[
        0
    ].effective_total == Decimal("1.25")


def test_cur_bill_is_amortised_like_aws_does(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cur.csv", CUR_HEADER, CUR_ROWS)
    bill = read_bill(str(path))
    assert (bill.format, bill.row_count) == ("cur", 9)
    (period,) = bill.periods
    assert (period.start, period.end) == (MAY, JUNE)
    assert period.effective_total == Decimal("25.73")
    assert period.billed_total == Decimal("369.33")
    lines = lines_by_key(path)
    # Usage 10.10 + covered 3.25 + negation 0.
    assert lines[(A, I_AAA, "Usage")][0] == Decimal("13.35")
    assert lines[(A, "i-0bbb", "Usage")][0] == Decimal("4.40")
    # Unused commitment only: the used part is in the covered usage already.
    assert lines[(A, "arn:aws:savingsplans::111111111111:savingsplan/sp-1", "Purchase")][0] == (
        Decimal("6.75")
    )
    # The reservation's upfront fee is spread over covered usage: zero here.
    assert lines[(A, "", "Purchase")] == (Decimal(0), Decimal(300), 1)
    assert period.totals_by_category() == {
        "Usage": Decimal("17.75"),
        "Purchase": Decimal("8.75"),
        "Tax": Decimal("1.23"),
        "Credit": Decimal("-2.00"),
    }


def test_format_is_detected_and_can_be_forced(tmp_path: Path) -> None:
    cur = write_csv(tmp_path / "cur.csv", CUR_HEADER, CUR_ROWS)
    assert read_bill(str(cur), "cur").format == "cur"
    with pytest.raises(BillError, match="header: missing column BilledCost"):
        read_bill(str(cur), "focus")
    other = write_csv(tmp_path / "other.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(BillError, match="neither a FOCUS export"):
        read_bill(str(other))


def test_a_file_with_two_periods_gives_two_periods(tmp_path: Path) -> None:
    rows = [
        *FOCUS_ROWS[:2],
        focus_row(
            A,
            "us-east-1",
            "Amazon EC2",
            I_AAA,
            "Usage",
            "1",
            "1",
            start="2024-06-01T00:00:00Z",
            end="2024-07-01T00:00:00Z",
        ),
    ]
    bill = read_bill(str(write_csv(tmp_path / "two.csv", FOCUS_HEADER, rows)))
    assert [(p.start.month, p.row_count, p.effective_total) for p in bill.periods] == [
        (5, 2, Decimal("9.5712345")),
        (6, 1, Decimal(1)),
    ]


def with_cell(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    changed = [list(r) for r in rows]
    changed[row - 1][FOCUS_HEADER.index(column)] = value
    return changed


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (7, "BilledCost", "abc", "row 7, column BilledCost: 'abc' is not a number"),
        (3, "EffectiveCost", "NaN", "row 3, column EffectiveCost: 'NaN' is not a number"),
        (
            2,
            "BillingPeriodStart",
            "yesterday",
            "row 2, column BillingPeriodStart: 'yesterday' is not a date",
        ),
        (4, "ChargeCategory", "Discount", "row 4, column ChargeCategory: 'Discount' is not one of"),
        (5, "BillingCurrency", "EUR", "row 5, column BillingCurrency: 'EUR' differs from 'USD'"),
        (
            6,
            "BillingPeriodEnd",
            "2024-04-01T00:00:00Z",
            "row 6, column BillingPeriodEnd: '2024-04-01T00:00:00Z' is not after",
        ),
    ],
)
def test_malformed_cell_is_refused_with_row_and_column(
    tmp_path: Path, row: int, column: str, value: str, message: str
) -> None:
    path = write_csv(tmp_path / "bad.csv", FOCUS_HEADER, with_cell(FOCUS_ROWS, row, column, value))
    with pytest.raises(BillError) as refused:
        read_bill(str(path))
    assert str(refused.value).startswith(message)


def test_malformed_parquet_cell_is_refused_with_row_and_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [row[i] for row in FOCUS_ROWS] for i, name in enumerate(FOCUS_HEADER)}
    columns["BilledCost"][8] = "12,5"
    pq.write_table(pa.table(columns), tmp_path / "bad.parquet", row_group_size=3)
    with pytest.raises(BillError, match=r"^row 9, column BilledCost: '12,5' is not a number"):
        read_bill(str(tmp_path / "bad.parquet"))


def test_missing_column_and_short_rows_are_refused(tmp_path: Path) -> None:
    header = [c for c in FOCUS_HEADER if c != "ResourceId"]
    with pytest.raises(BillError, match=r"^header: missing column ResourceId$"):
        read_bill(str(write_csv(tmp_path / "h.csv", header, [r[:-1] for r in FOCUS_ROWS])))
    short = [*FOCUS_ROWS[:2], FOCUS_ROWS[2][:5]]
    with pytest.raises(BillError, match=r"^row 3: 5 fields where the header has 13"):
        read_bill(str(write_csv(tmp_path / "s.csv", FOCUS_HEADER, short)))


def test_cur_row_needing_an_absent_column_is_refused(tmp_path: Path) -> None:
    header = [c for c in CUR_HEADER if c != "reservation_effective_cost"]
    index = CUR_HEADER.index("reservation_effective_cost")
    rows = [r[:index] + r[index + 1 :] for r in CUR_ROWS]
    with pytest.raises(
        BillError,
        match=r"^row 5, column reservation_effective_cost: missing from the header, needed for "
        "DiscountedUsage rows",
    ):
        read_bill(str(write_csv(tmp_path / "cur.csv", header, rows)))
    unknown = [cur_row("Usage", I_AAA, "1"), cur_row("Mystery", I_AAA, "1")]
    with pytest.raises(BillError, match="row 2, column line_item_line_item_type: 'Mystery'"):
        read_bill(str(write_csv(tmp_path / "u.csv", CUR_HEADER, unknown)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "header: the file is empty"),
        (b"BilledCost,ChargeCategory\n", "header: missing column"),
        ("BilledCost\n\xe9t\xe9\n".encode("latin-1"), "unreadable"),
        (b"PAR1 not really parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bill"
    path.write_bytes(content)
    with pytest.raises(BillError, match=message):
        read_bill(str(path))


def test_missing_file_is_refused() -> None:
    with pytest.raises(BillError, match="no such file"):
        read_bill("/nonexistent/bill.csv")
