"""On PostgreSQL the scan staging table skips the write-ahead log.

Staged rows live only while a scan runs: if the server crashes, the scan fails and is run again,
so logging them buys nothing and costs a second write of every resource.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE compliance_scanitem SET UNLOGGED")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE compliance_scanitem SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_checklist")]

    operations = [migrations.RunPython(forward, backward)]
