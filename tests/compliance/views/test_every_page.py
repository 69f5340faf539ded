"""Every dashboard page: strict CSP, no inline script or style, CSRF on every form, and the
role x account matrix (a viewer of account A never sees account B, on any page or export)."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from compliance.models import Resource, Scan
from compliance.permissions import roles
from compliance.permissions.accounts import Operator
from compliance.writes.checklist import do_run_security_checklist
from tests.compliance.billing.bills import I_CCC, A, B
from tests.compliance.views.conftest import person

# The checklist run in the estate serves requests through the ASGI app, which closes the
# connection at the end of each request: tests run outside a wrapping transaction.
pytestmark = pytest.mark.django_db(transaction=True)

#: Every page of the dashboard with the role it needs (resource and scan pages get their pk).
PAGES = [
    ("compliance:overview", roles.Role.VIEWER),
    ("compliance:resources", roles.Role.VIEWER),
    ("compliance:resource_detail", roles.Role.VIEWER),
    ("compliance:violations", roles.Role.VIEWER),
    ("compliance:costs", roles.Role.VIEWER),
    ("compliance:allocation", roles.Role.VIEWER),
    ("compliance:scans", roles.Role.VIEWER),
    ("compliance:scan_detail", roles.Role.VIEWER),
    ("compliance:policy", roles.Role.VIEWER),
    ("compliance:resource_export", roles.Role.ANALYST),
    ("compliance:checklist", roles.Role.ADMIN),
]
ROLE_ORDER = [roles.Role.VIEWER, roles.Role.ANALYST, roles.Role.ADMIN]


@pytest.fixture
def billed(billed: Scan) -> Scan:
    """Accounts A (prod) and B (data), five resources, a bill, and a checklist run."""
    do_run_security_checklist(acting=Operator())
    return billed


def _url(name: str) -> str:
    if name == "compliance:resource_detail":
        return reverse(name, args=[Resource.objects.filter(account__account_id=A).first().pk])  # type: ignore[union-attr]
    if name == "compliance:scan_detail":
        return reverse(name, args=[Scan.objects.latest("pk").pk])
    return reverse(name)


def _body(response: HttpResponseBase) -> str:
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    assert isinstance(response, HttpResponse)
    return response.content.decode()


@pytest.mark.parametrize(("name", "role"), PAGES)
def test_every_page_sends_a_strict_content_security_policy(
    billed: Scan, name: str, role: roles.Role
) -> None:
    client = person("admin-user", roles.Role.ADMIN, A, B)
    response = client.get(_url(name))
    assert response.status_code == 200, _body(response)[:500]
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"] or all(
        source == "'self'" or source.startswith("'nonce-") for source in directives["script-src"]
    )
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("name", "role"), [page for page in PAGES if "export" not in page[0]])
def test_no_page_has_inline_script_or_style_and_every_form_posts_a_csrf_token(
    billed: Scan, name: str, role: roles.Role
) -> None:
    html = _body(person("admin-user", roles.Role.ADMIN, A, B).get(_url(name)))
    assert " style=" not in html
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for script in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in script or 'type="application/json"' in script, script
    for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
        if re.search(r'method="post"', form, flags=re.I):
            assert "csrfmiddlewaretoken" in form, form[:200]


@pytest.mark.parametrize(("name", "needed"), PAGES)
def test_each_role_opens_exactly_the_pages_it_may(
    billed: Scan, name: str, needed: roles.Role
) -> None:
    url = _url(name)
    assert person("nobody", None, A).get(url).status_code == 403
    for role in ROLE_ORDER:
        client = person(f"user-{role.value}", role, A)
        allowed = ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)
        assert client.get(url).status_code == (200 if allowed else 403), (name, role)


@pytest.mark.parametrize(("name", "role"), PAGES)
def test_a_viewer_of_one_account_never_sees_the_other(
    billed: Scan, name: str, role: roles.Role
) -> None:
    # The analyst role opens every page but the checklist (which is estate-wide, not per account)
    client = person("alice-a", max(role, roles.Role.ANALYST, key=ROLE_ORDER.index), A)
    body = _body(client.get(_url(name)))
    assert I_CCC not in body
    assert "i-0ccc" not in body
    if name != "compliance:checklist":
        assert B not in body


def test_a_resource_of_another_account_is_not_found(billed: Scan) -> None:
    other = Resource.objects.get(arn=I_CCC)
    client = person("alice-a", roles.Role.VIEWER, A)
    assert client.get(reverse("compliance:resource_detail", args=[other.pk])).status_code == 404


def test_pages_signed_out_send_to_the_sign_in_page(billed: Scan) -> None:
    for name, _role in PAGES:
        url = _url(name)
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
