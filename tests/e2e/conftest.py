"""Browser test fixtures: the running stack (see stack.py), headless Chromium, and a page that
fails its test on any Content Security Policy violation and leaves a screenshot when it fails.

Every test here is marked ``e2e``: ``make test`` leaves them out (``-m "not e2e"``) and
``make e2e`` runs them; a plain ``pytest`` runs them too (see docs/testing.md).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.e2e.stack import ANALYST_GROUP, ARTIFACTS, Person, Stack, running_stack

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000

PERSON = Person(
    login="dana",
    password=secrets.token_urlsafe(12),
    name="Dana Whitfield",
    email="dana@example.com",
    groups=("engineering", ANALYST_GROUP),
)
#: The one person of the SAML identity provider (tests/e2e/saml_idp.py).
SAML_PERSON = Person(
    login="sam",
    password=secrets.token_urlsafe(12),
    name="Sam Okafor",
    email="sam@example.com",
    groups=(ANALYST_GROUP,),
)

#: Runs before any page script: every ``securitypolicyviolation`` goes to the test, whatever
#: page of whichever origin raised it.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__e2eCspViolation({
    page: location.href,
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ':' + event.lineNumber,
    sample: event.sample,
  });
});
"""


@dataclass
class PageWatch:
    """What went wrong in a test's pages besides its own assertions: Content Security Policy
    violations (events and console reports), and the app's static files (CSS, JS) that did not
    load, without which a page is unstyled and its script never runs."""

    base_url: str
    page: Page | None = None
    violations: list[str] = field(default_factory=list)
    broken_assets: list[str] = field(default_factory=list)

    def record(self, _source: Any, violation: dict[str, Any]) -> None:
        self.violations.append(str(violation))

    def console(self, message: ConsoleMessage) -> None:
        if re.search("Content[ -]Security[ -]Policy", message.text, re.IGNORECASE):
            self.violations.append(f"console {message.type}: {message.text}")

    def response(self, response: Response) -> None:
        if response.url.startswith(f"{self.base_url}/static/") and response.status >= 400:
            self.broken_assets.append(f"{response.url} answered {response.status}")

    def request_failed(self, request: Request) -> None:
        # A stylesheet or script answered with an error page (HTML, nosniff) is aborted by the
        # browser: it arrives here, not as a response.
        if request.url.startswith(f"{self.base_url}/static/"):
            self.broken_assets.append(f"{request.url} failed: {request.failure}")

    def problems(self) -> list[str]:
        if self.page is not None and not self.page.is_closed():
            self.page.evaluate("() => true")  # delivers violations still on their way
        return [
            *(f"Content Security Policy violation: {v}" for v in self.violations),
            *(f"static file not served: {a}" for a in dict.fromkeys(self.broken_assets)),
        ]


PAGE_WATCH = pytest.StashKey[PageWatch]()
CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed fails after all when its pages broke the Content Security Policy or
    missed their static files."""
    yield
    watch = item.stash.get(PAGE_WATCH, None)
    problems = watch.problems() if watch is not None else []
    if problems:
        raise AssertionError("\n".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e"), PERSON, SAML_PERSON) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile (no cookies) on the app; screenshot under artifacts/ when the
    test fails."""
    context = browser.new_context(base_url=stack.base_url, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    watch = PageWatch(base_url=stack.base_url)
    request.node.stash[PAGE_WATCH] = watch
    context.expose_binding("__e2eCspViolation", watch.record)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    watch.page = page
    page.on("console", watch.console)
    page.on("response", watch.response)
    page.on("requestfailed", watch.request_failed)
    yield page
    report = request.node.stash.get(CALL_REPORT, None)
    if report is None or report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    context.close()


@pytest.fixture
def page_watch(page: Page, request: pytest.FixtureRequest) -> PageWatch:
    """What the page's watch has recorded so far (for the test of the watch itself)."""
    watch: PageWatch = request.node.stash[PAGE_WATCH]
    return watch


def sign_in(page: Page, stack: Stack, watch: PageWatch) -> None:
    """Sign in as a person does: the sign-in page's SSO button, then the identity provider's
    form, and back to the dashboard. When the flow stalls, says where and what the browser
    refused."""
    try:
        page.goto("/accounts/login/")
        page.get_by_role("link", name=re.compile("Single sign-on")).or_(
            page.get_by_role("button", name=re.compile("Single sign-on"))
        ).first.click()
        # allauth asks to confirm with a POST before leaving for the provider (no sign-in on GET).
        page.wait_for_url(
            lambda url: url.startswith(stack.idp_url) or "/accounts/oidc/sso/login/" in url
        )
        if not page.url.startswith(stack.idp_url):
            page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{stack.idp_url}/**")
        page.get_by_label("Username").fill(stack.person.login)
        page.get_by_label("Password").fill(stack.person.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{stack.base_url}/")
    except PlaywrightTimeoutError as exc:
        raise AssertionError(
            f"sign-in stalled at {page.url}: {exc.message.splitlines()[0]}\n"
            + "\n".join(watch.problems())
        ) from None


@pytest.fixture
def signed_in(page: Page, stack: Stack, page_watch: PageWatch) -> Page:
    sign_in(page, stack, page_watch)
    return page
