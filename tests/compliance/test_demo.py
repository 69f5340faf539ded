"""`manage.py demo`: the embedded default seeds, scans and finds exactly the sample estate."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from compliance import reads
from compliance.demo.bill import demo_bill_rows
from compliance.demo.estate import seed_demo_estate
from compliance.management.commands import demo
from compliance.models import AwsAccount, BillingImport, Resource, Scan, TaggingPolicy, Violation
from compliance.permissions.accounts import Operator
from compliance.reads import reports


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_demo_seeds_scans_and_creates_an_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    seeded: list[Any] = []
    real_seed = seed_demo_estate

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
    api_key = printed.split("Authorization: Bearer ")[1].split()[0]
    from mcp_endpoint.keys import verify

    verdict = verify(api_key)
    key = verdict.key
    assert (verdict.reason, key is not None) == ("ok", True)
    assert key is not None
    assert key.user == admin
    assert sorted(key.scopes) == ["read", "scan"]
    assert "Imported the demo bill s3://demo-billing-exports-999999999999/" in printed

    # The bill, worked out from its own rows and the violations, independently of the maths.
    rows = demo_bill_rows(estate.resources)
    violating = set(Violation.objects.values_list("resource__arn", flat=True))
    total = sum((r.cost for r in rows), Decimal(0))
    gap = sum((r.cost for r in rows if r.arn in violating), Decimal(0))
    attributable = sum((r.cost for r in rows if r.arn and r.arn not in violating), Decimal(0))
    unattributable = sum((r.cost for r in rows if not r.arn), Decimal(0))
    assert {r.charge_category for r in rows if not r.arn} == {"Purchase", "Credit", "Tax"}
    assert BillingImport.objects.get().row_count == len(rows)

    costs = reads.cost_attribution(Operator())
    assert costs.cost_source == "focus"
    assert costs.total_spend == total
    assert costs.attribution_gap == gap > 0
    assert costs.attributable_spend == attributable > 0
    assert costs.unattributable_spend == unattributable
    assert costs.unmatched_resource_spend == 0  # every charged resource is in the inventory
    report = reports.build_report(Operator())
    assert report["total_spend"] == str(total.quantize(Decimal("0.01")))
    assert all(v["cost_impact_monthly"] is not None for v in report["violations"])
