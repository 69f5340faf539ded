"""The dashboard in a real browser: signed in through a real OpenID Connect provider, against
the production server command, a task worker and the demo estate in a fake AWS (see stack.py).

Expected figures come from what the seeding scan stored (``stack.facts``), never from the
pages' own code. Every test fails on a Content Security Policy violation (conftest.py).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import PageWatch, sign_in
from tests.e2e.stack import Stack

MAIN_ACCOUNT = "123456789012"
SCAN_SECONDS = 300

Resource = dict[str, Any]


def _resources(stack: Stack, keep: Callable[[Resource], bool]) -> list[Resource]:
    return [r for r in stack.facts["resources"] if keep(r)]


def _percent(part: int, whole: int) -> str:
    """A share as the dashboard writes it: one decimal place, halves rounded up."""
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{value}%"


def _figure(page: Page, term: str) -> Locator:
    """The value (``<dd>``) of a ``<dt>`` figure on the page."""
    return page.locator("dl dt", has_text=re.compile(f"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def _resources_form(page: Page) -> Locator:
    return page.locator("main form[method='get' i]").filter(has=page.locator("[name='region']"))


def _set_field(form: Locator, name: str, value: str) -> None:
    field = form.locator(f"[name='{name}']")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def _choose_option(form: Locator, name: str, label: re.Pattern[str]) -> str:
    """Select the option whose visible label matches, as a person reading the form would;
    returns its value."""
    field = form.locator(f"select[name='{name}']")
    options = field.locator("option").all()
    matching = [o for o in options if label.search(o.inner_text())]
    assert len(matching) == 1, [o.inner_text() for o in options]
    value = matching[0].get_attribute("value") or ""
    field.select_option(value)
    return value


def _filter(page: Page, **fields: str) -> dict[str, list[str]]:
    """Fill the resources page's filter form and submit it; returns the resulting query."""
    page.goto("/resources/")
    form = _resources_form(page)
    for name, value in fields.items():
        _set_field(form, name, value)
    with page.expect_navigation():
        form.locator("button[type='submit'], input[type='submit']").first.click()
    return parse_qs(urlsplit(page.url).query)


def _shown_resource_ids(page: Page) -> list[int]:
    """The resources listed in the page's table, by the id in their detail links."""
    ids = []
    for href in page.locator("main table tbody tr a[href]").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    ):
        match = re.search(r"/resources/(\d+)/$", urlsplit(href).path)
        if match:
            ids.append(int(match.group(1)))
    return ids


# --- Sign-in ---------------------------------------------------------------------------------


def test_signing_in_through_the_identity_provider_lands_on_the_overview(
    page: Page, stack: Stack, page_watch: PageWatch
) -> None:
    sign_in(page, stack, page_watch)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    in_scope = _resources(stack, lambda r: r["compliant"] is not None)
    compliant = [r for r in in_scope if r["compliant"]]
    assert 0 < len(compliant) < len(in_scope)
    expect(_figure(page, "Compliance score")).to_have_text(_percent(len(compliant), len(in_scope)))
    expect(page.locator("header")).to_contain_text(stack.person.login)


def test_the_csp_watch_sees_a_violation(page: Page, page_watch: PageWatch) -> None:
    """The guard every other test relies on: an inline script on one of the app's pages is
    refused by its policy, and the refusal reaches the test."""
    page.goto("/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
    )
    for _ in range(50):
        if page_watch.violations:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.inlineRan === undefined")
    assert any("script-src" in v for v in page_watch.violations), page_watch.violations
    page_watch.violations.clear()


# --- Resources: filters and export -------------------------------------------------------------


def test_filtering_resources_by_account_region_and_type(signed_in: Page, stack: Stack) -> None:
    query = _filter(signed_in, account=MAIN_ACCOUNT, region="eu-west-1", type="ec2:instance")
    assert {k: query[k] for k in ("account", "region", "type")} == {
        "account": [MAIN_ACCOUNT],
        "region": ["eu-west-1"],
        "type": ["ec2:instance"],
    }
    expected = _resources(
        stack,
        lambda r: (
            (r["account_id"], r["region"], r["resource_type"])
            == (MAIN_ACCOUNT, "eu-west-1", "ec2:instance")
        ),
    )
    assert len(expected) > 1
    assert sorted(_shown_resource_ids(signed_in)) == sorted(r["id"] for r in expected)


def test_filtering_resources_by_tag_and_compliance(signed_in: Page, stack: Stack) -> None:
    page = signed_in
    page.goto("/resources/")
    form = _resources_form(page)
    _set_field(form, "type", "ec2:instance")
    _set_field(form, "tag_key", "Environment")
    _set_field(form, "tag_value", "production")
    _choose_option(form, "compliance", re.compile(r"^\s*non[- ]?compliant\s*$", re.IGNORECASE))
    with page.expect_navigation():
        form.locator("button[type='submit'], input[type='submit']").first.click()
    expected = _resources(
        stack,
        lambda r: (
            r["resource_type"] == "ec2:instance"
            and r["tags"].get("Environment") == "production"
            and r["compliant"] is False
        ),
    )
    assert len(expected) > 1
    assert sorted(_shown_resource_ids(page)) == sorted(r["id"] for r in expected)


def test_filtering_resources_by_violation_type(signed_in: Page, stack: Stack) -> None:
    query = _filter(
        signed_in, violation_type="missing_required_tag", type="ec2:volume", region="eu-west-1"
    )
    assert query["violation_type"] == ["missing_required_tag"]
    expected = _resources(
        stack,
        lambda r: (
            (r["resource_type"], r["region"]) == ("ec2:volume", "eu-west-1")
            and "missing_required_tag" in r["violation_types"]
        ),
    )
    assert len(expected) > 1
    assert sorted(_shown_resource_ids(signed_in)) == sorted(r["id"] for r in expected)


def test_searching_resources_by_identifier(signed_in: Page, stack: Stack) -> None:
    (volume, *_others) = _resources(
        stack, lambda r: r["resource_type"] == "ec2:volume" and r["region"] == "ap-southeast-2"
    )
    volume_id = volume["arn"].rsplit("/", 1)[1]
    query = _filter(signed_in, q=volume_id)
    assert query["q"] == [volume_id]
    assert _shown_resource_ids(signed_in) == [volume["id"]]


def test_exporting_the_filtered_resources_as_csv(signed_in: Page, stack: Stack) -> None:
    page = signed_in
    _filter(page, account=MAIN_ACCOUNT, region="us-east-1")
    expected = _resources(
        stack, lambda r: (r["account_id"], r["region"]) == (MAIN_ACCOUNT, "us-east-1")
    )
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert urlsplit(download.url).path == "/resources/export.csv"
    assert parse_qs(urlsplit(download.url).query)["region"] == ["us-east-1"]
    path = download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows
    (arn_column,) = [c for c in rows[0] if all(row[c].startswith("arn:aws:") for row in rows)]
    assert sorted(row[arn_column] for row in rows) == sorted(r["arn"] for r in expected)
    (region_column,) = [c for c in rows[0] if c.lower() == "region"]
    assert {row[region_column] for row in rows} == {"us-east-1"}


# --- Scans ---------------------------------------------------------------------------------------


def test_scan_now_runs_a_scan_that_the_scan_page_follows_to_the_end(
    signed_in: Page, stack: Stack
) -> None:
    page = signed_in
    page.get_by_role("button", name="Scan now").click()
    page.wait_for_url(re.compile(r"/scans/\d+/$"))
    scan_id = int(re.findall(r"/scans/(\d+)/$", page.url)[0])
    assert scan_id > stack.facts["scan"]["id"]

    status = page.locator("[data-scan-status]")
    assert status.inner_text().strip() in {"queued", "running"}
    progress_url = f"{stack.base_url}/scans/{scan_id}/progress"
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url))
    expect(status).to_have_text(
        re.compile(r"^\s*(complete|partial)\s*$"), timeout=SCAN_SECONDS * 1000
    )
    assert progress_url in polls  # followed by the page's script, not by a person reloading
    final = status.inner_text().strip()
    progress = page.request.get(progress_url)
    assert progress.ok
    assert progress.json()["status"] == final
    expect(page.locator("table tbody tr").first).to_be_visible()  # the outcomes, once ended
