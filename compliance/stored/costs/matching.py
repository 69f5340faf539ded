"""Bill lines matched to present resources in SQL, with the rules of ``costs.ResourceIndex``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import CharField, Value
from django.db.models.expressions import Case, Col, Combinable, RawSQL, When
from django.db.models.functions import Collate, Length, Replace, Reverse, StrIndex, Substr
from django.db.models.lookups import GreaterThan

from compliance.models import AwsAccount, CostLine, Resource

#: Rows per database round trip while streaming.
CHUNK = 5000


def colon_count(text: Combinable) -> Combinable:
    return Length(text) - Length(Replace(text, Value(":"), Value("")))


def resource_part(arn: Combinable) -> Combinable:
    """The ARN after its fifth colon (``instance/i-0abc``, ``db:orders``, a bucket name); for an
    ARN with at least five colons."""
    rest = arn
    for _ in range(5):
        rest = Substr(rest, StrIndex(rest, Value(":")) + 1)
    return rest


def after_last(text: Combinable, separator: str) -> Combinable:
    """``text.rsplit(separator, 1)[-1]``: the part after its last ``separator``, or all of it."""
    position = StrIndex(Reverse(text), Value(separator))
    return Case(
        When(GreaterThan(position, 0), then=Substr(text, Length(text) - position + 2)),
        default=text,
    )


def _compiled(expression: Any) -> tuple[str, list[Any]]:
    query = Resource.objects.all().query
    resolved = expression.resolve_expression(query)
    sql, params = query.get_compiler(connection=connection).compile(resolved)
    return sql, list(params)


def _column(sql: str) -> RawSQL:
    return RawSQL(sql, (), output_field=CharField())  # noqa: S611 (our own column names)


def _converter(model: Any, name: str) -> Callable[[Any], Any]:
    """How the ORM turns a raw column value into a field value (SQLite keeps decimals as
    floats), so raw SQL reads exactly what the querysets of the live path read."""
    model_field = model._meta.get_field(name)
    column = Col(model._meta.db_table, model_field)
    converters = connection.ops.get_db_converters(column) + model_field.get_db_converters(
        connection
    )

    def convert(value: Any) -> Any:
        for converter in converters:
            value = converter(value, column, connection)
        return value

    return convert


@dataclass(frozen=True, slots=True)
class Line:
    account_id: str
    region: str
    service: str
    names_resource: bool
    charge_category: str
    billing_import_id: int
    cost: Decimal
    resource_id: int | None


def matched_lines(periods: dict[datetime, list[str]], registered: Sequence[str]) -> Iterator[Line]:
    """The bill lines of ``periods`` (period start -> bill accounts), each with the present
    resource it is charged to (or ``None``), in resource id order.

    The matching rules are those of :class:`compliance.core.costs.ResourceIndex`: a resource whose
    ARN is the line's resource id, wherever it is; else the one resource of the line's account
    that has it among its ``costs.id_keys``, or among several the one in the line's region.
    """
    if not periods:
        return
    quote = connection.ops.quote_name
    lines, resources, accounts = (
        quote(CostLine._meta.db_table),
        quote(Resource._meta.db_table),
        quote(AwsAccount._meta.db_table),
    )
    params: list[Any] = []

    def sql(expression: Any) -> str:
        text, more = _compiled(expression)
        params.extend(more)
        return text

    part = _column("parts.part")
    in_registered = ", ".join(["%s"] * len(registered))
    parts_sql = (
        f"SELECT r.id, a.account_id, r.region, {sql(resource_part(_column('r.arn')))} "  # noqa: S608
        f"FROM {resources} r INNER JOIN {accounts} a ON a.id = r.account_id "
        f"WHERE r.gone_since IS NULL AND {sql(colon_count(_column('r.arn')))} >= 5 "
        + (f"AND a.account_id IN ({in_registered})" if registered else "AND 1 = 0")
    )
    params.extend(registered)
    keyed_sql = "SELECT resource_id, account_code, region, part FROM parts"
    for separator in ("/", ":"):
        key = sql(after_last(part, separator))
        found = sql(StrIndex(part, Value(separator)))
        keyed_sql += (
            f" UNION ALL SELECT resource_id, account_code, region, {key} FROM parts "  # noqa: S608
            f"WHERE {found} > 0"
        )
    conditions = []
    for start, bill_accounts in sorted(periods.items()):
        listed = ", ".join(["%s"] * len(bill_accounts))
        conditions.append(f"(l.billing_period_start = %s AND l.account_id IN ({listed}))")
        params.append(connection.ops.adapt_datetimefield_value(start))
        params.extend(bill_accounts)
    in_region = "CASE WHEN k.region = l.region THEN k.resource_id END"
    query = f"""
        WITH parts (resource_id, account_code, region, part) AS ({parts_sql}),
        keyed (resource_id, account_code, region, id_key) AS ({keyed_sql})
        SELECT l.account_id, l.region, l.service,
               CASE WHEN l.resource_id = '' THEN 0 ELSE 1 END,
               l.charge_category, l.billing_import_id, l.effective_cost,
               COALESCE(by_arn.id, CASE
                   WHEN COUNT(DISTINCT k.resource_id) = 1 THEN MIN(k.resource_id)
                   WHEN COUNT(DISTINCT {in_region}) = 1 THEN MIN({in_region})
               END) AS matched
        FROM {lines} l
        LEFT JOIN {resources} by_arn ON by_arn.arn = l.resource_id AND by_arn.gone_since IS NULL
        LEFT JOIN keyed k ON by_arn.id IS NULL AND l.resource_id <> ''
            AND k.account_code = l.account_id AND k.id_key = l.resource_id
        WHERE {" OR ".join(conditions)}
        GROUP BY l.id, by_arn.id
        ORDER BY matched
    """  # noqa: S608 (table names quoted, every value a parameter)
    money = _converter(CostLine, "effective_cost")
    with connection.chunked_cursor() as cursor:
        cursor.execute(query, params)
        while rows := cursor.fetchmany(CHUNK):
            for account, region, service, named, category, import_id, cost, matched in rows:
                yield Line(
                    account_id=account,
                    region=region,
                    service=service,
                    names_resource=bool(named),
                    charge_category=category,
                    billing_import_id=import_id,
                    cost=money(cost),
                    resource_id=matched,
                )


def binary(arn: Combinable) -> Combinable:
    """ARNs compared by code point, as Python sorts them."""
    return Collate(arn, "C") if connection.vendor == "postgresql" else arn
