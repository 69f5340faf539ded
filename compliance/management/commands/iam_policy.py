from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.aws.iam_policy import policy_json


class Command(BaseCommand):
    help = (
        "Print the least-privilege read-only IAM policy: exactly the AWS actions the scanner, "
        "cost import and security checklist call (docs/iam-policy.json is this output)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(policy_json(), ending="")
