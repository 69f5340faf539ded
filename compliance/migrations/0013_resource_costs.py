"""Stored per-resource monthly costs and cost attribution (compliance.stored.costs).

Also the indexes of the resources list (partial ones over present resources for each order and
the account filter; on PostgreSQL a GIN index on tags and trigram indexes for the search), and
the triggers that count writes to what the stored attribution depends on
(``CostAttributionState.changes``), so that a reader knows when it no longer holds.
"""

from typing import Any

import django.db.models.deletion
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

POSTGRES_INDEXES = {
    "resource_present_tags": "USING gin (tags)",
    # The search filters with UPPER(column::text) LIKE UPPER(%s), as Django writes icontains.
    "resource_present_arn_trgm": 'USING gin (UPPER("arn"::text) gin_trgm_ops)',
    "resource_present_name_trgm": 'USING gin (UPPER("name"::text) gin_trgm_ops)',
}

STATE = "compliance_costattributionstate"
#: Table -> the columns whose update changes the attribution (empty: any column).
WATCHED = {
    "compliance_resource": ("gone_since", "account_id", "arn", "region", "resource_type"),
    "compliance_violation": (),
    "compliance_costline": (),
    "compliance_costexplorerfigure": (),
    "compliance_awsaccount": ("account_id",),
}


def create_postgres_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, method in POSTGRES_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON compliance_resource {method} "
            "WHERE gone_since IS NULL"
        )


def drop_postgres_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in POSTGRES_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def _postgres_triggers(table: str, columns: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(name, event, function) of the statement triggers on ``table``.

    A statement runs its trigger even when it changes no row (deleting a scan deletes its
    violations, usually none): deletes, and updates without a column list, look at the rows
    changed. An update with a column list only runs when one of the columns is set.
    """
    rows = "compliance_cost_rows_changed()"
    if columns:
        update = (f"UPDATE OF {', '.join(columns)}", "compliance_cost_inputs_changed()")
    else:
        update = ("UPDATE", rows)
    return [
        (f"{table}_cost_insert", "INSERT", "compliance_cost_inputs_changed()"),
        (f"{table}_cost_delete", "DELETE", rows),
        (f"{table}_cost_update", *update),
        (f"{table}_cost_truncate", "TRUNCATE", "compliance_cost_inputs_changed()"),
    ]


def create_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    bump = f"UPDATE {STATE} SET changes = changes + 1"  # noqa: S608
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION compliance_cost_inputs_changed() RETURNS trigger AS $$ "
            f"BEGIN {bump}; RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION compliance_cost_rows_changed() RETURNS trigger AS $$ "  # noqa: S608
            f"BEGIN IF EXISTS (SELECT 1 FROM changed_rows) THEN {bump}; END IF; RETURN NULL; "
            "END; $$ LANGUAGE plpgsql"
        )
        for table, columns in WATCHED.items():
            # Once per statement: a finalisation writing a million rows adds a handful.
            for name, event, function in _postgres_triggers(table, columns):
                rows = event in ("DELETE", "UPDATE")
                referencing = (
                    f" REFERENCING {'OLD' if event == 'DELETE' else 'NEW'} TABLE AS changed_rows"
                    if rows and function.startswith("compliance_cost_rows")
                    else ""
                )
                schema_editor.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table}{referencing} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {function}"
                )
    elif vendor == "sqlite":
        for table, columns in WATCHED.items():
            update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
            for event in ("INSERT", "DELETE", update):
                name = f"{table}_cost_{event.split()[0].lower()}"
                schema_editor.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {bump}; END"
                )


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table, columns in WATCHED.items():
            for name, _, _ in _postgres_triggers(table, columns):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS compliance_cost_inputs_changed()")
        schema_editor.execute("DROP FUNCTION IF EXISTS compliance_cost_rows_changed()")
    elif vendor == "sqlite":
        for table in WATCHED:
            for event in ("insert", "delete", "update"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_cost_{event}")


def _money() -> models.DecimalField:
    """An amount of ``AttributedCost``: exact, zero by default."""
    return models.DecimalField(decimal_places=10, default=0, max_digits=20)


def _present_index(fields: list[str], name: str) -> migrations.AddIndex:
    """A partial index of the resources list, over present resources only."""
    return migrations.AddIndex(
        model_name="resource",
        index=models.Index(
            condition=models.Q(("gone_since__isnull", True)), fields=fields, name=name
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0012_scan_partitions"),
    ]

    operations = [
        migrations.CreateModel(
            name="AttributedCost",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("split", "Split"),
                            ("untagged", "Untagged"),
                            ("at_stake", "At Stake"),
                        ],
                        max_length=8,
                    ),
                ),
                ("account_id", models.CharField(blank=True, max_length=256)),
                ("period_start", models.DateTimeField()),
                ("cost_source", models.CharField(max_length=8)),
                ("currency", models.CharField(blank=True, max_length=8)),
                ("region", models.CharField(blank=True, max_length=64)),
                ("service", models.CharField(blank=True, max_length=256)),
                ("resource_type", models.CharField(blank=True, max_length=64)),
                ("charge_category", models.CharField(blank=True, max_length=16)),
                ("tag_key", models.CharField(blank=True, max_length=128)),
                ("violation_type", models.CharField(blank=True, max_length=24)),
                ("attributable", _money()),
                ("attribution_gap", _money()),
                ("unattributable", _money()),
                ("unmatched_resource", _money()),
                ("amount", _money()),
            ],
            options={
                "ordering": ["kind", "account_id", "id"],
            },
        ),
        migrations.CreateModel(
            name="CostAttributionState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("computed_at", models.DateTimeField()),
                ("changes", models.BigIntegerField(default=0)),
                ("computed_changes", models.BigIntegerField(default=0)),
                ("exemptions_active", models.PositiveIntegerField(default=0)),
                ("last_exemption_id", models.BigIntegerField(default=0)),
                ("money", models.JSONField(default=dict)),
                ("cross_account", models.JSONField(default=list)),
                ("estimates_stored", models.BooleanField(default=True)),
            ],
        ),
        migrations.AddField(
            model_name="resource",
            name="cost_period_start",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="resource",
            name="monthly_cost",
            field=models.DecimalField(blank=True, decimal_places=10, max_digits=20, null=True),
        ),
        migrations.AddIndex(
            model_name="resource",
            index=models.Index(
                models.OrderBy(models.F("monthly_cost"), descending=True),
                models.F("arn"),
                condition=models.Q(("gone_since__isnull", True)),
                name="resource_present_cost",
            ),
        ),
        _present_index(["account", "is_compliant"], "resource_present_acct"),
        _present_index(["region", "is_compliant", "account"], "resource_present_region_n"),
        _present_index(["resource_type", "is_compliant", "account"], "resource_present_type_n"),
        _present_index(["resource_type", "arn"], "resource_present_type"),
        _present_index(["region", "arn"], "resource_present_region"),
        _present_index(["name", "arn"], "resource_present_name"),
        _present_index(["-last_seen_at", "arn"], "resource_present_seen"),
        migrations.AddField(
            model_name="attributedcost",
            name="billing_import",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="compliance.billingimport",
            ),
        ),
        migrations.AddIndex(
            model_name="attributedcost",
            index=models.Index(
                fields=["kind", "period_start", "account_id"], name="compliance__kind_22aa31_idx"
            ),
        ),
        TrigramExtension(),
        migrations.RunPython(create_postgres_indexes, drop_postgres_indexes),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
