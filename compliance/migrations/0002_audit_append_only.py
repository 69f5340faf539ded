"""Database-level guard: audit rows cannot be updated (nor, on PostgreSQL, deleted).

SQLite keeps DELETE allowed because Django's test flush empties tables with DELETE; the model
and queryset refuse deletes there. On PostgreSQL the test flush uses TRUNCATE, which row
triggers do not see.
"""

from django.db import migrations

SQLITE_FORWARD = """
CREATE TRIGGER compliance_auditevent_no_update
BEFORE UPDATE ON compliance_auditevent
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS compliance_auditevent_no_update;"

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER compliance_auditevent_no_update_delete
BEFORE UPDATE OR DELETE ON compliance_auditevent
FOR EACH ROW EXECUTE FUNCTION compliance_auditevent_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS compliance_auditevent_no_update_delete ON compliance_auditevent;
DROP FUNCTION IF EXISTS compliance_auditevent_append_only();
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
