"""fetch_costs against moto's Cost Explorer: every page read, figures stored exactly, and the
attribution estimated from them where no bill covers the period."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command

from compliance import reads
from compliance.core import costs
from compliance.models import AuditEvent, CostExplorerFigure
from compliance.permissions.accounts import Operator
from compliance.reads import reports
from compliance.writes.costs import do_fetch_costs
from compliance.writes.refusals import ActionError
from tests.compliance.billing.bills import (
    BUCKET,
    I_AAA,
    I_BBB,
    I_CCC,
    ORDERS,
    A,
    B,
    build_estate,
)

pytestmark = pytest.mark.django_db

MAY = {"Start": "2024-05-01", "End": "2024-06-01"}
EC2 = "Amazon Elastic Compute Cloud - Compute"
RESULTS_URL = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


def group(*keys: str, amount: str) -> dict[str, Any]:
    return {"Keys": list(keys), "Metrics": {"AmortizedCost": {"Amount": amount, "Unit": "USD"}}}


def page(*groups: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ResultsByTime": [{"TimePeriod": MAY, "Total": {}, "Groups": list(groups)}],
        "DimensionValueAttributes": [],
    }
    if token:
        result["NextPageToken"] = token
    return result


#: moto answers each distinct request with the next of these, in the order fetch_costs asks:
#: per account (A, then B), by service, then by each required tag (Owner, Environment,
#: Project), each followed to its last page.
PAGES = [
    # A, by service: two pages.
    page(
        group("Amazon Elastic Compute Cloud - Compute", "us-east-1", amount="30.0000000001"),
        token="service-2",
    ),
    page(
        group("Amazon Simple Storage Service", "us-east-1", amount="3.333"),
        group("Amazon Redshift", "us-east-1", amount="7.77"),
        group("Tax", "NoRegion", amount="4.20"),
    ),
    # A, by Owner: three pages.
    page(group("Owner$", "us-east-1", amount="22.333"), token="owner-2"),
    page(group("Owner$team-web", "us-east-1", amount="15.0000000001"), token="owner-3"),
    page(group("Owner$", "eu-west-1", amount="0.0000000009")),
    # A, by Environment and Project.
    page(group("Environment$", "us-east-1", amount="19")),
    page(group("Project$storefront", "us-east-1", amount="48.333")),
    # B, by service, Owner, Environment, Project.
    page(group("Amazon Elastic Compute Cloud - Compute", "eu-west-1", amount="80.00")),
    page(),
    page(),
    page(group("Project$", "eu-west-1", amount="80.00")),
]


@pytest.fixture
def cost_explorer(mocked_aws: None) -> None:
    build_estate()
    response = requests.post(RESULTS_URL, json={"results": PAGES}, timeout=5)
    assert response.status_code == 201


def test_every_page_is_followed_and_stored_exactly(cost_explorer: None) -> None:
    stored = do_fetch_costs(1, acting=Operator(), today=date(2024, 6, 15))
    assert len(stored) == 11
    figures = {
        (f.account_id, f.dimension, f.tag_key, f.key, f.region): f.amount
        for f in CostExplorerFigure.objects.all()
    }
    assert figures == {
        (A, "service", "", EC2, "us-east-1"): Decimal("30.0000000001"),
        (A, "service", "", "Amazon Simple Storage Service", "us-east-1"): Decimal("3.333"),
        (A, "service", "", "Amazon Redshift", "us-east-1"): Decimal("7.77"),
        (A, "service", "", "Tax", ""): Decimal("4.20"),
        (A, "tag", "Owner", "", "us-east-1"): Decimal("22.333"),
        (A, "tag", "Owner", "team-web", "us-east-1"): Decimal("15.0000000001"),
        (A, "tag", "Owner", "", "eu-west-1"): Decimal("0.0000000009"),
        (A, "tag", "Environment", "", "us-east-1"): Decimal(19),
        (A, "tag", "Project", "storefront", "us-east-1"): Decimal("48.333"),
        (B, "service", "", EC2, "eu-west-1"): Decimal("80.00"),
        (B, "tag", "Project", "", "eu-west-1"): Decimal("80.00"),
    }
    assert set(CostExplorerFigure.objects.values_list("period_start", "period_end")) == {
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
    }
    event = AuditEvent.objects.get(event_type="costs.fetched")
    assert event.detail["figures"] == 11
    assert event.detail["service_total"] == "125.3030000001"


def test_fetching_a_month_again_replaces_it(cost_explorer: None) -> None:
    do_fetch_costs(1, acting=Operator(), today=date(2024, 6, 15))
    # moto answers repeated requests with the answers it gave them before.
    do_fetch_costs(1, acting=Operator(), today=date(2024, 6, 15))
    assert CostExplorerFigure.objects.count() == 11


def test_attribution_is_estimated_where_no_bill_covers_the_period(cost_explorer: None) -> None:
    do_fetch_costs(1, acting=Operator(), today=date(2024, 6, 15))
    result = reads.cost_attribution(Operator())
    assert result.cost_source == "estimate"
    assert result.estimate_method == costs.ESTIMATE_METHOD
    assert result.period_start == datetime(2024, 5, 1, tzinfo=UTC)
    # EC2 30.0000000001 split over i-0aaa and i-0bbb: 15.0000000001 (the remainder) and 15.
    assert result.attributable_spend == Decimal("15.0000000001")
    assert result.attribution_gap == Decimal("98.333")  # 15 + 3.333 (bucket) + 80 (i-0ccc)
    assert result.unattributable_spend == Decimal("4.20")  # tax
    assert result.unmatched_resource_spend == Decimal("7.77")  # Redshift: not scanned
    assert result.total_spend == Decimal("125.3030000001")
    # Straight from the tag groups, all regions and pages added: exact.
    assert result.untagged_spend == {
        "Environment": Decimal(19),
        "Owner": Decimal("22.3330000009"),
        "Project": Decimal("80.00"),
    }
    assert reads.resource_costs(Operator(), [I_AAA, I_BBB, BUCKET, ORDERS, I_CCC]) == {
        I_AAA: Decimal("15.0000000001"),
        I_BBB: Decimal(15),
        BUCKET: Decimal("3.333"),
        ORDERS: Decimal(0),  # no RDS cost in Cost Explorer
        I_CCC: Decimal("80.00"),
    }


def test_the_report_says_its_figures_are_estimates(cost_explorer: None) -> None:
    do_fetch_costs(1, acting=Operator(), today=date(2024, 6, 15))
    report = reports.build_report(Operator())
    assert (report["cost_source"], report["total_spend"]) == ("estimate", "125.30")
    assert report["untagged_spend"] == {
        "Environment": "19.00",
        "Owner": "22.33",
        "Project": "80.00",
    }
    markdown = reports.render_markdown(report)
    assert "from Cost Explorer (per-resource figures estimated)" in markdown
    assert "Estimate: Cost Explorer has no per-resource costs" in markdown


def test_months_out_of_range_are_refused_and_audited(cost_explorer: None) -> None:
    with pytest.raises(ActionError, match="months: between 1 and 12"):
        do_fetch_costs(13, acting=Operator())
    assert AuditEvent.objects.get(event_type="costs.fetched").outcome == "denied"
    assert not CostExplorerFigure.objects.exists()


def test_fetch_costs_command(cost_explorer: None) -> None:
    out = io.StringIO()
    call_command("fetch_costs", "--months", "1", stdout=out)
    assert "Stored 11 Cost Explorer figures." in out.getvalue()
    assert "2024-05 111111111111: 45.30 USD" in out.getvalue()
    with pytest.raises(CommandError, match="nothing stored: months"):
        call_command("fetch_costs", "--months", "0")
