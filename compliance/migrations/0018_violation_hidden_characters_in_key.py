"""A violation type of its own for a key that reads as a required one but holds hidden
characters (``Own\\u200ber`` for ``Owner``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0017_checklist_run_permission"),
    ]

    operations = [
        migrations.AlterField(
            model_name="violation",
            name="violation_type",
            field=models.CharField(
                choices=[
                    ("missing_required_tag", "Missing Required Tag"),
                    ("invalid_value", "Invalid Value"),
                    ("invalid_format", "Invalid Format"),
                    ("wrong_key_case", "Wrong Key Case"),
                    ("hidden_characters_in_key", "Hidden Characters In Key"),
                ],
                max_length=24,
            ),
        ),
    ]
