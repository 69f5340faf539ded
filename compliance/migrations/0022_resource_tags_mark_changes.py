"""A resource's tags, name and attributes join the columns whose update counts as a change of
what the stored figures were computed from (``CostAttributionState.changes``, migration 0013):
showback's stored sums (``compliance.stored.showback``) depend on them. A scan writes them in
the same statements as the columns already watched, so it adds no trigger run."""

from typing import Any

from django.db import migrations

TABLE = "compliance_resource"
NAME = f"{TABLE}_cost_update"
BEFORE = ("gone_since", "account_id", "arn", "region", "resource_type")
AFTER = (*BEFORE, "tags", "name", "attributes")
BUMP = "UPDATE compliance_costattributionstate SET changes = changes + 1"


def _watch(columns: tuple[str, ...]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        vendor = schema_editor.connection.vendor
        watched = f"UPDATE OF {', '.join(columns)}"
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {NAME} ON {TABLE}")
            schema_editor.execute(
                f"CREATE TRIGGER {NAME} AFTER {watched} ON {TABLE} "
                "FOR EACH STATEMENT EXECUTE FUNCTION compliance_cost_inputs_changed()"
            )
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {NAME}")
            schema_editor.execute(
                f"CREATE TRIGGER {NAME} AFTER {watched} ON {TABLE} BEGIN {BUMP}; END"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [("compliance", "0021_showback_figures")]

    operations = [migrations.RunPython(_watch(AFTER), _watch(BEFORE))]
