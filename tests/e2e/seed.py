"""Seed the browser tests' database: ``manage.py demo --no-serve`` against the fake AWS that
is already running (``AWS_ENDPOINT_URL``), so the estate outlives the seeding and a scan
started from the page later finds it. Then every dashboard role is granted the demo accounts,
and what the first scan stored is written to a JSON file the tests compare the pages with.

  python -m tests.e2e.seed FACTS.json     # Django configured by the environment
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock


@contextmanager
def running_fake_aws() -> Iterator[str]:
    """Stands in for ``moto_server()`` in the demo command: the fake AWS is the long-running
    one the environment names, not one that stops when the command returns."""
    yield os.environ["AWS_ENDPOINT_URL"]


def seed() -> dict[str, Any]:
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from compliance.demo.estate import DemoEstate, seed_demo_estate
    from compliance.management.commands import demo
    from compliance.models import AccountAccess, AwsAccount, Resource, Scan, Violation
    from compliance.permissions.roles import Role

    estates: list[DemoEstate] = []

    def recording_seed(**kwargs: Any) -> DemoEstate:
        estates.append(seed_demo_estate(**kwargs))
        return estates[-1]

    with (
        mock.patch.object(demo, "moto_server", running_fake_aws),
        mock.patch.object(demo, "seed_demo_estate", recording_seed),
    ):
        call_command("demo", "--no-serve", stdout=sys.stderr)
    (estate,) = estates

    # Whoever signs in with a dashboard role sees both demo accounts (grants per role group).
    for role in Role:
        group = Group.objects.get(name=role.value)
        for account in AwsAccount.objects.all():
            AccountAccess.objects.get_or_create(account=account, group=group)

    scan = Scan.objects.get()
    stored = {r.arn: r for r in Resource.objects.select_related("account")}
    violations: dict[str, set[str]] = {}
    for arn, kind in Violation.objects.filter(scan=scan).values_list(
        "resource__arn", "violation_type"
    ):
        violations.setdefault(arn, set()).add(kind)
    resources = []
    for seeded in estate.resources:
        resource = stored[seeded.arn]
        resources.append(
            {
                "id": resource.pk,
                "arn": seeded.arn,
                "resource_type": seeded.resource_type,
                "region": seeded.region,
                "account_id": seeded.account_id,
                "tags": seeded.tags,
                "compliant": resource.is_compliant,
                "violation_types": sorted(violations.get(seeded.arn, ())),
            }
        )
    return {"scan": {"id": scan.pk, "status": scan.status}, "resources": resources}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finops_site.settings")
    import django

    django.setup()
    facts = seed()
    Path(sys.argv[1]).write_text(json.dumps(facts, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
