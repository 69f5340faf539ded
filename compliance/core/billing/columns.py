"""What the columns of a FOCUS or CUR 2.0 bill mean, row by row.

Each reader turns one bill row (a sequence of strings, in the positions its header gave) into an
aggregate key, the billed cost and the *effective* (amortised) cost. The effective cost is the
one attribution uses: a resource covered by a Savings Plan or a Reserved Instance costs what the
commitment makes it cost, not zero (billed) and not the on-demand rate (unblended).

Readers are deliberately strict: a value that is not a number, a category the format does not
define, a column that a row needs but the header lacks, all stop the import with the row and
column at fault, because a bill read approximately gives figures that are wrong exactly.

Two things real exports do are read as they mean, not as they are written: the text ``NULL`` (any
case, any surrounding spaces) is an empty cell, as the FOCUS 1.0 sample data writes empty cells;
and a FOCUS file may hold the rows of several providers, of which only AWS's belong here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Protocol

from compliance.core.untrusted import cut, reveal

FOCUS = "focus"
CUR = "cur"
FORMATS = (FOCUS, CUR)

#: (billing period start, end, account, region, service, resource id, charge category); the two
#: period fields are the bill's own text until the end of the read.
AggregateKey = tuple[str, str, str, str, str, str, str]

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

#: The one value ``--provider-filter`` takes: keep the AWS rows of a multi-provider FOCUS file.
PROVIDER_FILTERS = ("aws",)

#: FOCUS columns naming who provides a row's service, most specific first. ServiceProviderName
#: (FOCUS 1.3) replaces ProviderName (1.0 to 1.2); InvoiceIssuerName is read when neither is
#: there. PublisherName is not: an AWS Marketplace row is published by its seller but billed,
#: and owed, through AWS.
PROVIDER_COLUMNS = ("ServiceProviderName", "ProviderName", "InvoiceIssuerName")
PROVIDER_NAME_LIMIT = 100


def is_null(text: str) -> bool:
    """Whether a cell is the text ``NULL`` in any case, which exports write for an empty cell."""
    return len(text) >= 4 and text.strip().upper() == "NULL"


def cell(text: str) -> str:
    """A cell's text, ``""`` for the text ``NULL``."""
    return "" if is_null(text) else text


def is_aws(provider: str) -> bool:
    """Whether a FOCUS provider name is AWS: ``AWS``, ``Amazon``, ``Amazon Web Services`` and its
    legal entities (``Amazon Web Services, Inc.``, ``Amazon Web Services EMEA SARL``, ...) in any
    case. An empty or ``NULL`` name counts as AWS: a bill that does not say is read as the AWS
    bill it was exported as."""
    name = " ".join(cell(provider).casefold().split())
    return name in ("", "aws", "amazon") or name.startswith(
        ("amazon web services", "aws ", "aws,", "aws.")
    )


class BillError(ValueError):
    """The bill cannot be imported; the message names the row and column at fault.

    Row 1 is the first row after the header (in Parquet, the first row of the file).
    """

    @classmethod
    def at(cls, row: int, column: str, problem: str) -> BillError:
        return cls(f"row {row}, column {column}: {problem}")


class RowReader(Protocol):
    format: str
    #: Column names for error messages.
    period_columns: tuple[str, str]
    currency_column: str
    #: Whether rows name their provider, so that :meth:`other_provider` is worth calling.
    reads_providers: bool
    #: Positions of the resource tags cell and of the charge period start (``None``: the
    #: header lacks it), and their column names; see :mod:`compliance.core.billing.tags`.
    tags: int | None
    charged_from: int | None
    tags_column: str
    charged_from_column: str

    def other_provider(self, row: Sequence[str]) -> str | None:
        """The provider of a row that is not AWS's, ``None`` for an AWS row."""
        ...

    def read(self, row: Sequence[str], n: int) -> tuple[AggregateKey, Decimal, Decimal, str]:
        """Key, billed cost, effective cost and currency of one row (row number ``n``)."""
        ...


@dataclass(frozen=True, slots=True)
class Layout:
    format: str
    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def check(self, header: Sequence[str]) -> None:
        present = set(header)
        for column in self.required:
            if column not in present:
                raise BillError(f"header: missing column {column}")


FOCUS_LAYOUT = Layout(
    FOCUS,
    required=(
        "BilledCost",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargeCategory",
        "SubAccountId",
        "ServiceName",
        "ResourceId",
        "BillingCurrency",
    ),
    # EffectiveCost is mandatory since FOCUS 1.0, optional here so 0.5 exports still import
    # (at their billed cost); RegionId replaced Region in 1.0.
    optional=(
        "EffectiveCost",
        "RegionId",
        "Region",
        *PROVIDER_COLUMNS,
        "Tags",
        "ChargePeriodStart",
    ),
)

CUR_LAYOUT = Layout(
    CUR,
    required=(
        "line_item_unblended_cost",
        "line_item_usage_account_id",
        "line_item_product_code",
        "line_item_resource_id",
        "line_item_line_item_type",
        "bill_billing_period_start_date",
        "bill_billing_period_end_date",
    ),
    optional=(
        "product_region_code",
        "product_region",
        "line_item_currency_code",
        "savings_plan_savings_plan_effective_cost",
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
        "reservation_effective_cost",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_recurring_fee",
        "reservation_reservation_a_r_n",
        "resource_tags",
        "line_item_usage_start_date",
    ),
)

LAYOUTS = {FOCUS: FOCUS_LAYOUT, CUR: CUR_LAYOUT}


#: Columns only the legacy Cost and Usage Report has (CUR 2.0 writes them ``line_item_...``).
LEGACY_CUR_MARKERS = ("lineItem/", "identity/", "bill/")


def refuse_legacy_cur(header: Sequence[str]) -> None:
    """Refuse a legacy CUR export by name, with the export to make instead.

    Its columns (``lineItem/UnblendedCost``) are neither FOCUS's nor CUR 2.0's, and a legacy
    report splits tags over one column per key: AWS Data Exports writes the same bill as CUR 2.0
    or FOCUS, which this reads exactly.
    """
    legacy = [name for name in header if name.startswith(LEGACY_CUR_MARKERS)]
    if legacy:
        raise BillError(
            f"header: a legacy Cost and Usage Report (CUR) export (columns such as {legacy[0]}), "
            "which is not imported: create a CUR 2.0 or FOCUS 1.0+ export with AWS Data Exports "
            "(Billing and Cost Management > Data Exports) and import that"
        )


def detect_format(header: Sequence[str]) -> str:
    """``focus`` or ``cur`` from the column names; FOCUS columns are PascalCase by the spec."""
    refuse_legacy_cur(header)
    present = set(header)
    if {"BilledCost", "ChargeCategory"} & present:
        return FOCUS
    if any(name.startswith("line_item_") for name in present):
        return CUR
    raise BillError(
        "header: neither a FOCUS export (no BilledCost column) nor an AWS CUR 2.0 export "
        "(no line_item_unblended_cost column)"
    )


def row_reader(fmt: str, header: Sequence[str]) -> RowReader:
    refuse_legacy_cur(header)
    layout = LAYOUTS[fmt]
    layout.check(header)
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(name, position)
    return FocusRows(index) if fmt == FOCUS else CurRows(index)


def _number(text: str, n: int, column: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        if is_null(text) or text == "":
            raise BillError.at(n, column, "empty, where a number is required") from None
        raise BillError.at(n, column, f"{text!r} is not a number") from None
    if not value.is_finite():
        raise BillError.at(n, column, f"{text!r} is not a number")
    return value


def parse_timestamp(text: str, n: int, column: str) -> datetime:
    """A bill timestamp as an aware UTC datetime (naive ones are UTC, as both formats say)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BillError.at(n, column, f"{text!r} is not a date") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _key_getter(
    start: int,
    end: int,
    account: int,
    region: int | None,
    service: int,
    resource: int,
    category: int,
) -> Callable[[Sequence[str]], AggregateKey]:
    """The aggregate key of a row in one C call (the per-row cost that matters at 1M rows)."""
    if region is not None:
        return itemgetter(start, end, account, region, service, resource, category)
    others = itemgetter(start, end, account, service, resource, category)

    def without_region(row: Sequence[str]) -> AggregateKey:
        s, e, a, svc, res, cat = others(row)
        return (s, e, a, "", svc, res, cat)

    return without_region


class FocusRows:
    """FOCUS 1.0+: cost is ``EffectiveCost`` (amortised), ``BilledCost`` where it is empty."""

    format = FOCUS
    period_columns = ("BillingPeriodStart", "BillingPeriodEnd")
    currency_column = "BillingCurrency"
    tags_column = "Tags"
    charged_from_column = "ChargePeriodStart"

    def __init__(self, index: Mapping[str, int]) -> None:
        self.tags = index.get(self.tags_column)
        self.charged_from = index.get(self.charged_from_column)
        self.billed = index["BilledCost"]
        self.effective = index.get("EffectiveCost")
        self.currency = index["BillingCurrency"]
        self.key = _key_getter(
            index["BillingPeriodStart"],
            index["BillingPeriodEnd"],
            index["SubAccountId"],
            index.get("RegionId", index.get("Region")),
            index["ServiceName"],
            index["ResourceId"],
            index["ChargeCategory"],
        )
        self.categories = frozenset(CHARGE_CATEGORIES)
        self.provider = next((index[name] for name in PROVIDER_COLUMNS if name in index), None)
        self.reads_providers = self.provider is not None
        # Each provider name seen: None for AWS, else the name as messages show it (a bill
        # spells its few providers a few ways, so this stays small).
        self.providers: dict[str, str | None] = {}

    def other_provider(self, row: Sequence[str]) -> str | None:
        if self.provider is None:
            return None
        name = row[self.provider]
        try:
            return self.providers[name]
        except KeyError:
            # Bill text reaches messages, the audit log and terminals: controls made visible.
            shown = None if is_aws(name) else reveal(cut(name.strip(), PROVIDER_NAME_LIMIT))
            self.providers[name] = shown
            return shown

    def read(self, row: Sequence[str], n: int) -> tuple[AggregateKey, Decimal, Decimal, str]:
        key = self.key(row)
        if key[6] not in self.categories:
            raise BillError.at(
                n, "ChargeCategory", f"{key[6]!r} is not one of {', '.join(CHARGE_CATEGORIES)}"
            )
        billed = _number(row[self.billed], n, "BilledCost")
        effective = billed
        if self.effective is not None:
            text = row[self.effective]
            if text != "" and not is_null(text):
                effective = _number(text, n, "EffectiveCost")
        return key, billed, effective, row[self.currency]


#: CUR line item type -> FOCUS charge category (the categories every figure is reported in).
CUR_CATEGORIES = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "DistributorDiscount": "Credit",
    "SppDiscount": "Credit",
}

ZERO = Decimal(0)


class CurRows:
    """AWS CUR 2.0, amortised exactly as AWS's own amortised-cost views compute it.

    Covered usage costs its Savings Plan / reservation effective cost; the commitment fees
    count only for their unused part (the used part is already in the covered usage), upfront
    fees and Savings Plan negations count zero; everything else costs its unblended cost.
    """

    format = CUR
    reads_providers = False  # CUR is AWS's own export
    period_columns = ("bill_billing_period_start_date", "bill_billing_period_end_date")
    currency_column = "line_item_currency_code"
    tags_column = "resource_tags"
    charged_from_column = "line_item_usage_start_date"

    def __init__(self, index: Mapping[str, int]) -> None:
        self.tags = index.get(self.tags_column)
        self.charged_from = index.get(self.charged_from_column)
        self.index = index
        self.unblended = index["line_item_unblended_cost"]
        self.account = index["line_item_usage_account_id"]
        self.service = index["line_item_product_code"]
        self.resource = index["line_item_resource_id"]
        self.type = index["line_item_line_item_type"]
        self.currency = index.get("line_item_currency_code")
        # The category slot holds the line item type until read() maps it.
        self.key = _key_getter(
            index["bill_billing_period_start_date"],
            index["bill_billing_period_end_date"],
            self.account,
            index.get("product_region_code", index.get("product_region")),
            self.service,
            self.resource,
            self.type,
        )

    def _amount(self, row: Sequence[str], n: int, column: str, line_type: str) -> Decimal:
        position = self.index.get(column)
        if position is None:
            raise BillError.at(n, column, f"missing from the header, needed for {line_type} rows")
        return _number(row[position], n, column)

    def _effective(self, row: Sequence[str], n: int, line_type: str, unblended: Decimal) -> Decimal:
        if line_type == "SavingsPlanCoveredUsage":
            return self._amount(row, n, "savings_plan_savings_plan_effective_cost", line_type)
        if line_type == "DiscountedUsage":
            return self._amount(row, n, "reservation_effective_cost", line_type)
        if line_type == "SavingsPlanRecurringFee":
            committed = self._amount(row, n, "savings_plan_total_commitment_to_date", line_type)
            used = self._amount(row, n, "savings_plan_used_commitment", line_type)
            return committed - used
        if line_type == "RIFee":
            upfront = self._amount(
                row, n, "reservation_unused_amortized_upfront_fee_for_billing_period", line_type
            )
            recurring = self._amount(row, n, "reservation_unused_recurring_fee", line_type)
            return upfront + recurring
        if line_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
            return ZERO
        if line_type == "Fee":
            reservation = self.index.get("reservation_reservation_a_r_n")
            if reservation is not None and cell(row[reservation]) != "":
                return ZERO  # a reservation's upfront fee, spread over its covered usage
        return unblended

    def read(self, row: Sequence[str], n: int) -> tuple[AggregateKey, Decimal, Decimal, str]:
        line_type = row[self.type]
        category = CUR_CATEGORIES.get(line_type)
        if category is None:
            raise BillError.at(
                n,
                "line_item_line_item_type",
                f"{line_type!r} is not a CUR line item type ({', '.join(CUR_CATEGORIES)})",
            )
        unblended = _number(row[self.unblended], n, "line_item_unblended_cost")
        effective = (
            unblended if line_type == "Usage" else self._effective(row, n, line_type, unblended)
        )
        key = (*self.key(row)[:6], category)
        currency = "USD" if self.currency is None else (cell(row[self.currency]) or "USD")
        return key, unblended, effective, currency

    def other_provider(self, row: Sequence[str]) -> str | None:
        return None
