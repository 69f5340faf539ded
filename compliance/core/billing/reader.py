"""Reading a bill: a local path or ``s3://bucket/key``, CSV, CSV.gz or Parquet, summed while it
streams.

Memory stays flat however many rows the bill has: rows are read one at a time (CSV) or one
small batch at a time (Parquet, one row group in Arrow's memory at most) and folded into a dict
keyed by the aggregate key, so memory grows with the number of distinct (period, account,
region, service, resource, charge category), never with the number of rows. Nothing is written
here: the caller stores the result only once the whole file has been read and found valid.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, Inexact, localcontext
from pathlib import Path
from typing import Any

from compliance.core.billing.columns import (
    CHARGE_CATEGORIES,
    FORMATS,
    LAYOUTS,
    PROVIDER_FILTERS,
    BillError,
    RowReader,
    cell,
    detect_format,
    parse_timestamp,
    row_reader,
)
from compliance.core.billing.tags import BillTags, Tags

#: Rows between two progress reports.
PROGRESS_EVERY = 100_000
#: Parquet rows per batch. Each batch becomes Python text (a few hundred bytes a row) before it is
#: summed, so small batches keep that flat; below 2,048 Arrow's per-batch cost starts to show.
PARQUET_BATCH_ROWS = 2_048

ProgressCallback = Callable[[int], None]

#: Held while Arrow's default memory pool is switched, so two imports at once cannot leave it
#: switched.
_POOL_SWITCH = threading.Lock()

# Bill cells are long (ARNs, tags); the csv module's default limit (128 KiB) is only a guard.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class BillLine:
    account_id: str
    region: str
    service: str
    resource_id: str
    charge_category: str
    effective_cost: Decimal
    billed_cost: Decimal
    row_count: int


@dataclass(frozen=True, slots=True)
class BilledResource:
    """One resource the bill charges in one account and region, with its tags on the bill.

    Keyed like the matching to the inventory (account, region, resource id), so every charge
    of one billed resource goes to the same inventory resource, or to none.
    """

    account_id: str
    region: str
    #: The service of its costliest line (a resource is billed under one service as a rule).
    service: str
    resource_id: str
    effective_cost: Decimal
    tags: Tags


@dataclass(slots=True)
class BillPeriod:
    """Everything one billing period of the file says, summed."""

    start: datetime
    end: datetime
    lines: list[BillLine] = field(default_factory=list)
    #: (account, resource id) -> its tags on the bill; ``None`` when the file has no tags
    #: column (a resource without an entry carries none).
    resource_tags: dict[tuple[str, str], Tags] | None = None

    @property
    def row_count(self) -> int:
        return sum(line.row_count for line in self.lines)

    @property
    def account_ids(self) -> list[str]:
        return sorted({line.account_id for line in self.lines})

    @property
    def effective_total(self) -> Decimal:
        return sum((line.effective_cost for line in self.lines), Decimal(0))

    @property
    def billed_total(self) -> Decimal:
        return sum((line.billed_cost for line in self.lines), Decimal(0))

    def totals_by_category(self) -> dict[str, Decimal]:
        """Effective cost per charge category present, in the FOCUS order of categories."""
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.charge_category] = (
                totals.get(line.charge_category, Decimal(0)) + line.effective_cost
            )
        return {c: totals[c] for c in CHARGE_CATEGORIES if c in totals}

    def billed_resources(self) -> list[BilledResource]:
        """Every resource the period charges, with its tags; empty without a tags column."""
        if self.resource_tags is None:
            return []
        found: dict[tuple[str, str, str], list[Any]] = {}
        for line in self.lines:
            if not line.resource_id:
                continue
            key = (line.account_id, line.region, line.resource_id)
            entry = found.get(key)
            if entry is None:
                found[key] = [line.effective_cost, line.service, line.effective_cost]
                continue
            entry[0] += line.effective_cost
            if line.effective_cost > entry[2]:
                entry[1], entry[2] = line.service, line.effective_cost
        return [
            BilledResource(
                account_id=account,
                region=region,
                service=service,
                resource_id=resource,
                effective_cost=cost,
                tags=self.resource_tags.get((account, resource), {}),
            )
            for (account, region, resource), (cost, service, _) in found.items()
        ]


@dataclass(frozen=True, slots=True)
class Bill:
    source: str
    format: str
    currency: str
    #: Rows read into the periods (rows left out by the provider filter not counted).
    row_count: int
    periods: list[BillPeriod]
    #: Rows of other providers than AWS left out by the provider filter, by provider name.
    left_out: dict[str, int] = field(default_factory=dict)
    #: Whether the file has a resource tags column (FOCUS ``Tags``, CUR 2.0 ``resource_tags``).
    carries_tags: bool = False


#: Fetches a remote bill (``s3://...``) to a local file for the span of the read.
RemoteFetch = Callable[[str], AbstractContextManager[Path]]


def read_bill(
    source: str,
    fmt: str | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    fetch_remote: RemoteFetch | None = None,
    provider_filter: str | None = None,
) -> Bill:
    """Read and sum a whole bill, or raise :class:`BillError` naming the row and column.

    ``fetch_remote`` brings an ``s3://`` bill to a local file: the caller passes the AWS
    client's download, so this module stays free of AWS (it raises :class:`BillError` itself
    when the object cannot be fetched).

    A FOCUS file holding rows of other providers than AWS is refused with each provider and
    its row count, since their spend is not AWS spend; ``provider_filter="aws"`` reads only the
    AWS rows instead and says in :attr:`Bill.left_out` what it left out.
    """
    if fmt is not None and fmt not in FORMATS:
        raise BillError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if provider_filter is not None and provider_filter not in PROVIDER_FILTERS:
        raise BillError(
            f"provider filter: {provider_filter!r} is not one of {', '.join(PROVIDER_FILTERS)}"
        )
    with (
        _local_copy(source, fetch_remote) as path,
        _open_rows(path) as (names, header, rows, width),
    ):
        reader = row_reader(fmt or detect_format(names), header)
        return _aggregate(source, reader, rows, width, on_progress, provider_filter is not None)


@contextmanager
def _local_copy(source: str, fetch_remote: RemoteFetch | None) -> Iterator[Path]:
    if source.startswith("s3://"):
        if fetch_remote is None:
            raise BillError(f"{source}: remote bills cannot be read here")
        with fetch_remote(source) as path:
            yield path
        return
    path = Path(source)
    if not path.exists():
        raise BillError(f"{source}: no such file")
    if path.is_dir():
        raise BillError(f"{source}: is a directory")
    if not path.is_file():
        # A device or a pipe (/dev/zero, /dev/stdin) would be read forever.
        raise BillError(f"{source}: not a regular file")
    yield path


def _sniff(path: Path) -> str:
    """``parquet``, ``gzip`` or ``csv`` from the first bytes: S3 keys need not have a suffix."""
    with path.open("rb") as file:
        magic = file.read(4)
    if magic == b"PAR1":
        return "parquet"
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    return "csv"


#: Every column name (for detection), the columns rows hold (for positions), the rows, and the
#: width every row must have (CSV; Parquet rows are whole by construction).
Rows = tuple[list[str], list[str], Iterable[Sequence[str]], int | None]


@contextmanager
def _open_rows(path: Path) -> Iterator[Rows]:
    """The header, the rows as sequences of text, and the width every row must have (CSV)."""
    kind = _sniff(path)
    if kind == "parquet":
        yield _parquet_rows(path)
        return
    with (
        gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        if kind == "gzip"
        else path.open(encoding="utf-8-sig", newline="")
    ) as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise BillError("header: the file is empty") from None
        except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as exc:
            raise BillError(f"header: unreadable ({exc})") from None
        names = [name.strip() for name in header]
        yield names, names, reader, len(names)


def _parquet_rows(path: Path) -> Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    with _POOL_SWITCH:
        default_pool = pa.default_memory_pool()
        try:
            # A Parquet reader allocates from the pool that is the default when it is made, and
            # ParquetFile takes no pool: the system allocator hands a row group's pages back
            # once they are read, where Arrow's default (mimalloc) keeps them. Buffers free into
            # the pool they came from, so switching the default for the reader's making is safe.
            pa.set_memory_pool(pa.system_memory_pool())
            # Without pre-buffering a row group's column chunks are read as they are decoded.
            parquet = pq.ParquetFile(path, pre_buffer=False)
        except (ArrowException, OSError) as exc:
            raise BillError(f"file: not a readable Parquet file ({exc})") from None
        finally:
            pa.set_memory_pool(default_pool)
    names = parquet.schema_arrow.names
    # Read only the columns a format uses: a CUR file has a hundred more.
    known = {column for layout in LAYOUTS.values() for column in layout.columns}
    wanted = [name for name in names if name in known]

    def rows() -> Iterator[Sequence[str]]:
        try:
            # One thread: parallel column decoding holds every column's pages at once.
            for batch in parquet.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, columns=wanted, use_threads=False
            ):
                columns = [_texts(batch.column(i).to_pylist()) for i in range(len(wanted))]
                yield from zip(*columns, strict=True)
        except ArrowException as exc:
            raise BillError(f"file: unreadable Parquet data ({exc})") from None

    return list(names), wanted, rows(), None


def _texts(values: list[Any]) -> list[str]:
    """Parquet values as the text a CSV export would hold, so both share one row reader.

    Floats go through ``repr`` (the shortest text that reads back as the same float), which is
    the decimal the exporter wrote; Decimal128 columns keep every digit.
    """
    return [value if type(value) is str else _text(value) for value in values]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | dict):
        # A map column (CUR 2.0 ``resource_tags``) comes as (key, value) pairs: read as the
        # JSON object a CSV export writes. Anything else is written as it is, for the tag
        # reader to refuse with its row and column.
        try:
            return json.dumps(dict(value))
        except (TypeError, ValueError):
            return repr(value)
    return str(value)


def _aggregate(
    source: str,
    reader: RowReader,
    rows: Iterable[Sequence[str]],
    width: int | None,
    on_progress: ProgressCallback | None,
    aws_only: bool,
) -> Bill:
    sums: dict[tuple[str, ...], list[Any]] = {}
    times: dict[str, datetime] = {}
    others: dict[str, int] = defaultdict(int)
    start_column, end_column = reader.period_columns
    currency: str | None = None
    other_provider = reader.other_provider if reader.reads_providers else None
    tags_at, charged_from_at = reader.tags, reader.charged_from
    bill_tags = (
        None
        if tags_at is None
        else BillTags(
            reader.tags_column, reader.charged_from_column if charged_from_at is not None else None
        )
    )
    n = 0
    with localcontext() as context:
        # Wide enough for any bill; a sum that would still need rounding stops the import.
        context.prec = 60
        context.traps[Inexact] = True
        try:
            for row in rows:
                n += 1
                if width is not None and len(row) != width:
                    if not row:
                        continue  # a blank line
                    raise BillError(f"row {n}: {len(row)} fields where the header has {width}")
                if other_provider is not None:
                    other = other_provider(row)
                    if other is not None:
                        # Counted either way: a refusal names every provider and its rows.
                        others[other] += 1
                        continue
                key, billed, effective, row_currency = reader.read(row, n)
                if bill_tags is not None and tags_at is not None and key[5]:
                    bill_tags.add(
                        (key[0], key[2], key[5]),
                        row[charged_from_at] if charged_from_at is not None else "",
                        row[tags_at],
                        n,
                    )
                if row_currency != currency:
                    row_currency = cell(row_currency)
                if row_currency != currency:
                    if currency is not None:
                        raise BillError.at(
                            n,
                            reader.currency_column,
                            f"{row_currency!r} differs from {currency!r} in the rows before; "
                            "import one currency at a time",
                        )
                    currency = row_currency
                entry = sums.get(key)
                if entry is None:
                    if key[0] not in times:
                        times[key[0]] = parse_timestamp(key[0], n, start_column)
                    if key[1] not in times:
                        times[key[1]] = parse_timestamp(key[1], n, end_column)
                    if times[key[1]] <= times[key[0]]:
                        raise BillError.at(n, end_column, f"{key[1]!r} is not after {key[0]!r}")
                    sums[key] = [billed, effective, 1]
                else:
                    entry[0] += billed
                    entry[1] += effective
                    entry[2] += 1
                if on_progress is not None and n % PROGRESS_EVERY == 0:
                    on_progress(n)
        except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as exc:
            raise BillError(f"row {n + 1}: unreadable ({exc})") from None
        if others and not aws_only:
            raise BillError(
                f"file: rows of other providers than AWS ({_providers(others)}); their spend "
                "is not AWS spend. Import only the AWS rows with the provider filter aws "
                "(import_costs --provider-filter aws)"
            )
        if not sums:
            if others:
                raise BillError(f"file: no AWS rows, only {_providers(others)}")
            raise BillError("file: no rows after the header")
        periods = _periods(sums, times, bill_tags)
    return Bill(
        source=source,
        format=reader.format,
        currency=currency or "",
        row_count=n - sum(others.values()),
        periods=periods,
        left_out=dict(sorted(others.items(), key=lambda item: (-item[1], item[0]))),
        carries_tags=bill_tags is not None,
    )


#: Providers a refusal names; a file with more is not a multi-cloud bill but a broken one.
PROVIDERS_NAMED = 10


def _providers(rows: dict[str, int]) -> str:
    """``Microsoft: 3 rows, Oracle: 1 row``, most rows first."""
    ranked = sorted(rows.items(), key=lambda item: (-item[1], item[0]))
    named = ", ".join(
        f"{name or 'unnamed'}: {count:,} row{'s' if count != 1 else ''}"
        for name, count in ranked[:PROVIDERS_NAMED]
    )
    if len(ranked) > PROVIDERS_NAMED:
        named += f" and {len(ranked) - PROVIDERS_NAMED:,} more providers"
    return named


def _periods(
    sums: dict[tuple[str, ...], list[Any]],
    times: dict[str, datetime],
    bill_tags: BillTags | None = None,
) -> list[BillPeriod]:
    """Group the sums by billing period; two spellings of one instant are one period."""
    merged: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for (start, end, account, region, service, resource, category), sum_ in sums.items():
        # Ids are compared stripped, and the text NULL read as empty, but only here: once per
        # aggregate, not once per row.
        key = (
            times[start],
            times[end],
            cell(account),
            cell(region),
            cell(service),
            cell(resource).strip(),
            category,
        )
        billed, effective, count = sum_
        entry = merged[key]
        entry[0] += billed
        entry[1] += effective
        entry[2] += count
    periods: dict[tuple[datetime, datetime], BillPeriod] = {}
    for (start, end, account, region, service, resource, category), sum_ in sorted(merged.items()):
        period = periods.setdefault((start, end), BillPeriod(start=start, end=end))
        period.lines.append(
            BillLine(
                account_id=account,
                region=region,
                service=service,
                resource_id=resource,
                charge_category=category,
                billed_cost=sum_[0],
                effective_cost=sum_[1],
                row_count=sum_[2],
            )
        )
    if bill_tags is not None:
        # A resource's tags go to the first period starting when its rows' period starts.
        first_of: dict[datetime, dict[tuple[str, str], dict[str, str]]] = {}
        for (starts, _), period in periods.items():
            period.resource_tags = {}
            first_of.setdefault(starts, period.resource_tags)
        # Two spellings of one resource (the text NULL, spaces) are one: its latest tags win.
        latest: dict[tuple[datetime, str, str], str] = {}
        for (start, account, resource), seen in bill_tags.by_resource.items():
            at = times[start]
            resource_key = (cell(account), cell(resource).strip())
            period_tags = first_of[at]
            seen_at = (at, *resource_key)
            if seen_at not in latest or seen.charged_from >= latest[seen_at]:
                latest[seen_at] = seen.charged_from
                period_tags[resource_key] = seen.tags
    return list(periods.values())
