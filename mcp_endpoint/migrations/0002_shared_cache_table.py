"""The database cache's table (see ``mcp_endpoint.oauth.shared_state``).

Created with Django's own ``createcachetable`` logic, so its columns are exactly what the
database cache expects on SQLite and PostgreSQL alike; created whatever cache is configured,
so an install that drops Redis later still finds it.
"""

from __future__ import annotations

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from mcp_endpoint.oauth.shared_state import CACHE_TABLE


def create_table(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_table(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quoted = schema_editor.connection.ops.quote_name(CACHE_TABLE)
    schema_editor.execute(f"DROP TABLE IF EXISTS {quoted}")


class Migration(migrations.Migration):
    dependencies = [("mcp_endpoint", "0001_initial")]

    operations = [migrations.RunPython(create_table, drop_table, elidable=False)]
