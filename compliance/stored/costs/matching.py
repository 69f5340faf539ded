"""Bill lines matched to present resources in SQL, with the rules of ``costs.ResourceIndex``.

The keys are built from the constants of :func:`compliance.core.costs.id_keys`, and
``tests/compliance/test_figure_properties.py`` checks, over generated estates and bills on both
databases, that every line goes to the resource the core's index picks."""

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

from compliance.core import costs
from compliance.models import AwsAccount, BilledResource, CostLine, Resource

#: Rows per database round trip while streaming.
CHUNK = 5000


def colon_count(text: Combinable) -> Combinable:
    return Length(text) - Length(Replace(text, Value(":"), Value("")))


def resource_part(arn: Combinable) -> Combinable:
    """The ARN after its fifth colon (``instance/i-0abc``, ``db:orders``, a bucket name); for an
    ARN with at least five colons."""
    rest = arn
    for _ in range(costs.RESOURCE_PART_COLONS):
        rest = Substr(rest, StrIndex(rest, Value(":")) + 1)
    return rest


def id_key_expressions(arn: Combinable) -> list[Combinable]:
    """The keys of ``costs.id_keys`` as SQL expressions (some may be empty strings, which no
    bill line's resource id equals); for an ARN with at least five colons."""
    part = resource_part(arn)
    return [part, *(after_last(part, separator) for separator in costs.ID_KEY_SEPARATORS)]


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


class _Query:
    """A statement's parameters, collected as its expressions are compiled into it."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def sql(self, expression: Any) -> str:
        text, more = _compiled(expression)
        self.params.extend(more)
        return text

    def keyed(self, registered: Sequence[str]) -> str:
        """``WITH`` clauses naming ``keyed (resource_id, account_code, region, id_key)``: every
        ``costs.id_keys`` key of the present resources of the ``registered`` accounts."""
        quote = connection.ops.quote_name
        resources = quote(Resource._meta.db_table)
        accounts = quote(AwsAccount._meta.db_table)
        part = _column("parts.part")
        in_registered = ", ".join(["%s"] * len(registered))
        parts_sql = (
            f"SELECT r.id, a.account_id, r.region, {self.sql(resource_part(_column('r.arn')))} "  # noqa: S608
            f"FROM {resources} r INNER JOIN {accounts} a ON a.id = r.account_id "
            f"WHERE r.gone_since IS NULL "
            f"AND {self.sql(colon_count(_column('r.arn')))} >= {costs.RESOURCE_PART_COLONS} "
            + (f"AND a.account_id IN ({in_registered})" if registered else "AND 1 = 0")
        )
        self.params.extend(registered)
        keyed_sql = "SELECT resource_id, account_code, region, part FROM parts"
        for separator in costs.ID_KEY_SEPARATORS:
            key = self.sql(after_last(part, separator))
            found = self.sql(StrIndex(part, Value(separator)))
            keyed_sql += (
                f" UNION ALL SELECT resource_id, account_code, region, {key} FROM parts "  # noqa: S608
                f"WHERE {found} > 0"
            )
        return (
            f"WITH parts (resource_id, account_code, region, part) AS ({parts_sql}), "
            f"keyed (resource_id, account_code, region, id_key) AS ({keyed_sql})"
        )


#: The resource a line ``l`` goes to, over its ``by_arn`` resource and the ``keyed`` rows ``k``
#: carrying its id in its account, grouped per line: ``ResourceIndex.match`` in SQL.
_IN_REGION = "CASE WHEN k.region = l.region THEN k.resource_id END"
_MATCHED = f"""COALESCE(by_arn.id, CASE
    WHEN COUNT(DISTINCT k.resource_id) = 1 THEN MIN(k.resource_id)
    WHEN COUNT(DISTINCT {_IN_REGION}) = 1 THEN MIN({_IN_REGION})
END)"""


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
    lines, resources = quote(CostLine._meta.db_table), quote(Resource._meta.db_table)
    query = _Query()
    keyed = query.keyed(registered)
    conditions = []
    for start, bill_accounts in sorted(periods.items()):
        listed = ", ".join(["%s"] * len(bill_accounts))
        conditions.append(f"(l.billing_period_start = %s AND l.account_id IN ({listed}))")
        query.params.append(connection.ops.adapt_datetimefield_value(start))
        query.params.extend(bill_accounts)
    statement = f"""
        {keyed}
        SELECT l.account_id, l.region, l.service,
               CASE WHEN l.resource_id = '' THEN 0 ELSE 1 END,
               l.charge_category, l.billing_import_id, l.effective_cost,
               {_MATCHED} AS matched
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
        cursor.execute(statement, query.params)
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


@dataclass(frozen=True, slots=True)
class ContestedLine:
    line_id: int
    account_id: str
    cost: Decimal
    #: The present resource the line goes to, or ``None`` (left unmatched).
    resource_id: int | None


def contested_lines(
    period_start: datetime, source_format: str, registered: Sequence[str]
) -> list[ContestedLine]:
    """The lines of one bill that a lookup from one resource's own keys cannot settle: their
    id is a key of several present resources of the line's account, or a key of one while
    being another present resource's ARN. Each comes with the resource it goes to.

    A per-resource sum over the lines naming it by ARN or key (``bill_lines``) is then exact
    once these lines are taken out and added back where they go. Bills name resources by ARN
    or by ids unique in an account, so this is usually empty; finding out still reads the keys
    of every present resource of ``registered``, as a refresh does.
    """
    quote = connection.ops.quote_name
    lines, resources = quote(CostLine._meta.db_table), quote(Resource._meta.db_table)
    query = _Query()
    keyed = query.keyed(registered)
    statement = f"""
        {keyed}
        SELECT l.id, l.account_id, l.effective_cost, {_MATCHED} AS matched
        FROM {lines} l
        INNER JOIN keyed k ON k.account_code = l.account_id AND k.id_key = l.resource_id
        LEFT JOIN {resources} by_arn ON by_arn.arn = l.resource_id AND by_arn.gone_since IS NULL
        WHERE l.billing_period_start = %s AND l.source_format = %s AND l.resource_id <> ''
        GROUP BY l.id, l.account_id, l.effective_cost, by_arn.id
        HAVING COUNT(DISTINCT k.resource_id) > 1 OR by_arn.id IS NOT NULL
        ORDER BY l.id
    """  # noqa: S608 (table names quoted, every value a parameter)
    query.params.extend([connection.ops.adapt_datetimefield_value(period_start), source_format])
    money = _converter(CostLine, "effective_cost")
    with connection.cursor() as cursor:
        cursor.execute(statement, query.params)
        return [
            ContestedLine(line_id, account_id, money(cost), matched)
            for line_id, account_id, cost, matched in cursor.fetchall()
        ]


def binary(arn: Combinable) -> Combinable:
    """ARNs compared by code point, as Python sorts them."""
    return Collate(arn, "C") if connection.vendor == "postgresql" else arn


def matched_billed(registered: Sequence[str], after: int, limit: int) -> list[tuple[int, bool]]:
    """``limit`` billed resources with an id above ``after``, in id order, each with whether a
    present resource takes its charges (the rules of :func:`matched_lines`, as a billed
    resource is keyed like a line: account, region, resource id)."""
    quote = connection.ops.quote_name
    billed, resources = quote(BilledResource._meta.db_table), quote(Resource._meta.db_table)
    query = _Query()
    keyed = query.keyed(registered)
    statement = f"""
        {keyed}
        SELECT l.id, {_MATCHED} AS matched
        FROM {billed} l
        LEFT JOIN {resources} by_arn ON by_arn.arn = l.resource_id AND by_arn.gone_since IS NULL
        LEFT JOIN keyed k ON by_arn.id IS NULL
            AND k.account_code = l.account_id AND k.id_key = l.resource_id
        WHERE l.id > %s
        GROUP BY l.id, by_arn.id
        ORDER BY l.id
        LIMIT %s
    """  # noqa: S608 (table names quoted, every value a parameter)
    query.params.extend([after, limit])
    with connection.cursor() as cursor:
        cursor.execute(statement, query.params)
        return [(pk, matched is not None) for pk, matched in cursor.fetchall()]
