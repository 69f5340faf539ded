"""Partitions of a scan fanned out across task workers (compliance/scans/fanout.py)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0011_audit_retention"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScanPartition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account_id", models.CharField(max_length=12)),
                ("region", models.CharField(max_length=32)),
                (
                    "status",
                    models.CharField(
                        choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done")],
                        default="queued",
                        max_length=8,
                    ),
                ),
                ("jobs", models.PositiveIntegerField(default=0)),
                ("jobs_done", models.PositiveIntegerField(default=0)),
                ("resources_seen", models.PositiveIntegerField(default=0)),
                ("attempt", models.PositiveIntegerField(default=0)),
                ("outcomes", models.JSONField(blank=True, default=list)),
                ("task_id", models.CharField(blank=True, max_length=64)),
                ("worker", models.CharField(blank=True, max_length=128)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "scan",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="partitions",
                        to="compliance.scan",
                    ),
                ),
            ],
            options={
                "ordering": ["scan_id", "account_id", "region"],
                "indexes": [
                    models.Index(fields=["scan", "status"], name="compliance__scan_id_223976_idx")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scan", "account_id", "region"), name="scan_partition_unique"
                    )
                ],
            },
        ),
    ]
