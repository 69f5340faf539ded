"""Retention: the one narrow way for old audit events to leave the append-only log.

On PostgreSQL the trigger of 0002 keeps refusing every UPDATE, and every DELETE except one
that meets both conditions:

- the transaction has set ``finops.audit_prune`` to ``on``, and
- the row occurred before the timestamp the transaction has set in ``finops.audit_prune_before``.

``compliance.writes.retention`` sets both with ``set_config(..., true)``, which lasts until the end of
the transaction, in each batch it deletes. So a plain DELETE (or the ORM's) is still refused,
and so is a DELETE of a recent row even with pruning on. An unset, empty or malformed cutoff
refuses (an invalid timestamp raises).

On SQLite nothing changes: as 0002 explains, SQLite has no DELETE trigger, because Django's test
flush empties tables with DELETE there; the model and its queryset refuse deletes.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('finops.audit_prune', true) = 'on'
       AND OLD.occurred_at
           < NULLIF(current_setting('finops.audit_prune_before', true), '')::timestamptz
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
"""

# 0002's function: no exception at all.
POSTGRES_BACKWARD = """
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0010_snapshot_violation_types")]

    operations = [migrations.RunPython(forward, backward)]
