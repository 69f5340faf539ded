"""``manage.py resource_types``: every resource type a scan lists, as Markdown."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.aws.type_table import resource_types_markdown


class Command(BaseCommand):
    help = (
        "Print every resource type a scan lists: its list call, where its tags come from and "
        "the IAM actions it needs (docs/resource-types.md is this output)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(resource_types_markdown(), ending="")
