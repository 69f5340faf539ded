"""One resource's page: tags, violations (exempted ones apart), cost and its bill lines,
history and suggestions; nothing of an account the viewer may not see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from compliance.models import Resource, Scan, TagChange
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.writes.exemptions import do_create_exemption
from tests.compliance.billing.bills import (
    I_AAA,
    I_BBB,
    I_CCC,
    ORDERS,
    A,
)
from tests.compliance.views.conftest import signed_in

pytestmark = pytest.mark.django_db


def url(arn: str) -> str:
    return f"/resources/{Resource.objects.get(arn=arn).pk}/"


def text(response: object) -> str:
    """The page's main content as text: tags dropped, whitespace collapsed."""
    html = response.content.decode()  # type: ignore[attr-defined]
    main = html.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


@pytest.fixture
def estate(estate: Scan) -> Scan:
    """The shared estate with i-0aaa and i-0bbb named and tagged (billed: see ``viewer``)."""
    Resource.objects.filter(arn=I_BBB).update(
        name="web-02", tags={"Project": "shop", "Name": "web-02"}
    )
    Resource.objects.filter(arn=I_AAA).update(
        name="web-01", tags={"Owner": "ann", "Environment": "prod", "Project": "shop"}
    )
    return estate


@pytest.fixture
def viewer(billed: Scan, alice: User) -> Client:
    """alice: a viewer granted account A only, the May bill loaded."""
    return signed_in(alice, Role.VIEWER, A)


def test_without_a_role_the_page_is_refused(billed: Scan, bob: User) -> None:
    assert signed_in(bob, None, A).get(url(I_BBB)).status_code == 403


def test_a_resource_of_another_account_is_not_found_like_an_unknown_one(viewer: Client) -> None:
    hidden = viewer.get(url(I_CCC))
    unknown = viewer.get("/resources/999999/")
    assert hidden.status_code == unknown.status_code == 404
    assert I_CCC not in hidden.content.decode()
    assert "80.00" not in hidden.content.decode()


def test_tags_violations_and_cost(viewer: Client) -> None:
    page = text(viewer.get(url(I_BBB)))
    assert "Tags Key Value Name web-02 Project shop" in page
    assert "Monthly cost 19.00 USD" in page
    assert "Current violations 2" in page
    # Each violation carries the resource's monthly cost as its cost impact.
    assert "missing_required_tag Environment (absent) — 19.00" in page
    assert "missing_required_tag Owner (absent) — 19.00" in page
    assert "No current violation" not in page


def test_the_type_by_name_and_a_link_to_the_aws_console(viewer: Client) -> None:
    html = viewer.get(url(I_BBB)).content.decode()
    instance_id = I_BBB.rsplit("/", 1)[1]
    link = re.search(r'<a href="([^"]+)" rel="noopener noreferrer" target="_blank">Open in', html)
    assert link is not None
    assert link.group(1).startswith("https://us-east-1.console.aws.amazon.com/ec2/")
    assert instance_id in link.group(1)
    assert "<dd>EC2 instance <code>ec2:instance</code></dd>" in html


def test_cost_lines_behind_the_monthly_cost(viewer: Client) -> None:
    page = text(viewer.get(url(I_BBB)))
    assert "Billing period 2024-05-01 to 2024-06-01, FOCUS bill" in page
    assert "Lines total 19.00." in page
    # Billed by bare id: 20.005 usage and a 1.005 credit (each rounded half to even).
    assert "Amazon EC2 Credit i-0bbb us-east-1 -1.00" in page
    assert "Amazon EC2 Usage i-0bbb us-east-1 20.00" in page
    assert "i-0zzz" not in page


def test_a_resource_the_bill_does_not_charge_costs_zero(viewer: Client) -> None:
    page = text(viewer.get(url(ORDERS)))
    assert "Monthly cost 0.00 USD" in page
    assert "The latest bill (2024-05-01) has no charge for this resource." in page


def test_exempted_violations_are_shown_apart_with_their_exemption(
    viewer: Client, alice: User
) -> None:
    expires = timezone.now() + timedelta(days=30)
    do_create_exemption(
        reason="retagging in the next sprint",
        owner="alice",
        expires_at=expires,
        acting=Operator(),
        resource_arn=I_BBB,
        tag_key="Owner",
    )
    page = text(viewer.get(url(I_BBB)))
    current = page.split("Current violations", 2)[2].split("Exempted violations", 1)[0]
    assert "Environment" in current
    assert "Owner" not in current
    exempted = page.split("Exempted violations (not counted)", 1)[1].split("Cost lines", 1)[0]
    assert (
        f"missing_required_tag Owner (absent) retagging in the next sprint alice "
        f"(created by cli) {timezone.localtime(expires):%Y-%m-%d %H:%M}"
    ) in exempted
    assert "Current violations 1" in page


def test_tag_history_newest_first(viewer: Client) -> None:
    resource = Resource.objects.get(arn=I_BBB)
    scan = Scan.objects.get()
    now = timezone.now()
    TagChange.objects.create(
        resource=resource,
        scan=scan,
        observed_at=now - timedelta(days=2),
        key="Owner",
        kind="removed",
        old_value="bob",
        new_value=None,
    )
    TagChange.objects.create(
        resource=resource,
        scan=scan,
        observed_at=now - timedelta(days=1),
        key="Project",
        kind="changed",
        old_value="web",
        new_value="shop",
    )
    history = text(viewer.get(url(I_BBB))).split("Tag history", 1)[1]
    assert history.index("Project") < history.index("Owner")
    assert "Owner required removed bob —" in history
    assert "Project required changed web shop" in history


def test_violation_history_lists_when_each_was_first_found(viewer: Client) -> None:
    history = text(viewer.get(url(I_BBB))).split("Violation history", 1)[1]
    assert history.count("missing_required_tag") == 2
    assert "Environment v1" in history
    assert "Owner v1" in history


def test_suggestions_with_confidence_and_evidence(viewer: Client) -> None:
    Resource.objects.filter(arn=I_AAA).update(name="web-01")
    page = text(viewer.get(url(I_BBB)))
    suggestions = page.split("Tag suggestions", 1)[1].split("Tag history", 1)[0]
    assert "Owner ann" in suggestions
    assert "Environment prod" in suggestions
    assert "name_pattern" in suggestions
    # 0.85 x (1 of 1) x 1 / (1 + 3): one sibling agrees, shrunk for the small sample.
    assert (
        "Owner ann 21% name_pattern name &#x27;web-02&#x27; matches &#x27;web-*&#x27; "
        "whose resources have Owner=ann (1 of 1)"
    ) in suggestions


def test_a_gone_resource_keeps_its_page(viewer: Client) -> None:
    gone = timezone.now() - timedelta(days=3)
    Resource.objects.filter(arn=I_BBB).update(gone_since=gone)
    response = viewer.get(url(I_BBB))
    assert response.status_code == 200
    page = text(response)
    assert f"Gone since {timezone.localtime(gone):%Y-%m-%d %H:%M}" in page
    assert "Monthly cost —" in page


def test_an_untagged_compliant_page_has_its_empty_states(viewer: Client) -> None:
    page = text(viewer.get(url(ORDERS)))
    assert "No tags." in page
    assert "No current violation." in page
    assert "No tag change recorded since it was first seen." in page
    assert "No open violation, exempted ones included." in page
