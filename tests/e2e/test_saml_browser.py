"""Signing in through a SAML 2.0 identity provider in a real browser: the sign-in page's SAML
button, the IdP's form (HTTP-Redirect binding in, HTTP-POST binding out), and the dashboard
with the role the person's IdP group maps to (stack.py, tests/e2e/saml_idp.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import PageWatch
from tests.e2e.stack import Stack


def test_signing_in_through_the_saml_identity_provider_gives_the_groups_role(
    page: Page, stack: Stack, page_watch: PageWatch
) -> None:
    person = stack.saml_person
    assert person is not None
    page.goto("/accounts/login/")
    page.get_by_role("link", name=re.compile("SAML sign-on")).or_(
        page.get_by_role("button", name=re.compile("SAML sign-on"))
    ).first.click()
    # allauth asks to confirm with a POST before leaving for the provider (no sign-in on GET).
    page.wait_for_url(
        lambda url: url.startswith(stack.saml_idp_url) or "/accounts/saml/sso/login/" in url
    )
    if not page.url.startswith(stack.saml_idp_url):
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{stack.saml_idp_url}/sso?SAMLRequest=*")
    page.get_by_label("Username").fill(person.login)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Continue to the service").click()

    page.wait_for_url(f"{stack.base_url}/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.locator("header")).to_contain_text(person.login)
    # "Scan now" is the analyst's: the role the IdP's group attribute maps to, not the default.
    page.goto("/scans/")
    expect(page.get_by_role("button", name="Scan now")).to_be_visible()
    assert page_watch.problems() == []
