"""Snapshots per violation type, with exempted counts and the exemptions they were taken under."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0009_roles_and_sign_in_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="compliancesnapshot",
            name="dimension",
            field=models.CharField(
                choices=[
                    ("account", "Account"),
                    ("region", "Region"),
                    ("resource_type", "Resource Type"),
                    ("tag_key", "Tag Key"),
                    ("violation_type", "Violation Type"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="compliancesnapshot",
            name="exempted",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="compliancesnapshot",
            name="exemptions_active",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="compliancesnapshot",
            name="last_exemption_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
    ]
