"""`manage.py demo`: the embedded default seeds, scans and finds exactly the sample estate."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from compliance.management.commands import demo
from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy, Violation


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_seeds_scans_and_creates_an_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    seeded: list[Any] = []
    real_seed = demo.seed_demo_estate

    def recording_seed(**kwargs: Any) -> Any:
        seeded.append(real_seed(**kwargs))
        return seeded[-1]

    monkeypatch.setattr(demo, "seed_demo_estate", recording_seed)
    out = io.StringIO()
    call_command("demo", "--no-serve", stdout=out)

    estate = seeded[0]
    scan = Scan.objects.get()
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    assert sorted(Resource.objects.values_list("arn", flat=True)) == sorted(
        r.arn for r in estate.resources
    )
    assert scan.total_resources == len(estate.resources)
    assert {(r.arn, r.resource_type, r.region, r.account_id) for r in estate.resources} == set(
        Resource.objects.values_list("arn", "resource_type", "region", "account__account_id")
    )
    assert set(AwsAccount.objects.values_list("account_id", flat=True)) == {
        "123456789012",
        "210987654321",
    }
    assert len({r.region for r in estate.resources}) >= 3
    assert len({r.resource_type for r in estate.resources}) >= 10
    assert set(Violation.objects.values_list("violation_type", flat=True)) == {
        "missing_required_tag",
        "invalid_value",
        "invalid_format",
        "wrong_key_case",
    }
    assert TaggingPolicy.objects.get(is_active=True).version == 1
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    printed = out.getvalue()
    password = printed.split("password: ")[1].split()[0]
    assert admin.check_password(password)
