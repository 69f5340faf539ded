"""Pages for a signed-in person are never cached; static files keep their long caching."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client


def _directives(value: str) -> set[str]:
    return {part.strip() for part in value.split(",") if part.strip()}


@pytest.mark.parametrize(
    "path", ["/", "/violations/", "/resources/", "/accounts/2fa/", "/accounts/password/change/"]
)
def test_signed_in_pages_are_private_and_not_stored(client: Client, alice: User, path: str) -> None:
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code in {200, 302}
    assert {"private", "no-store"} <= _directives(response["Cache-Control"])
    assert "public" not in _directives(response["Cache-Control"])


def test_admin_pages_are_private_and_not_stored(admin_client: Client) -> None:
    response = admin_client.get("/admin/mcp_endpoint/apikey/")
    assert response.status_code == 200
    assert {"private", "no-store"} <= _directives(response["Cache-Control"])


def test_a_refused_page_is_private_too(client: Client, bob: User) -> None:
    client.force_login(bob)
    response = client.get("/checklist/")
    assert response.status_code == 403
    assert {"private", "no-store"} <= _directives(response["Cache-Control"])


def test_static_files_keep_their_caching(client: Client, alice: User) -> None:
    assert finders.find("css/site.css") is not None
    client.force_login(alice)
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    directives = _directives(response["Cache-Control"])
    assert "no-store" not in directives
    assert any(d.startswith("max-age=") and int(d.split("=")[1]) > 0 for d in directives)
