"""Shared fixtures: named users per role, and a fake AWS environment for moto."""

from __future__ import annotations

import time
from collections.abc import Iterator

import hypothesis
import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.test import Client, override_settings

from compliance.models import AccountAccess, AwsAccount
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role

# The property tests share two cores with a second test worker, PostgreSQL and Redis: how fast
# Hypothesis draws inputs or runs one example then says nothing about the code under test.
hypothesis.settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("shared-machine")


@pytest.fixture(autouse=True)
def _isolated_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test ever reaches a real AWS account or reads the developer's AWS files."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture(autouse=True, scope="session")
def _process_local_cache() -> Iterator[None]:
    """Tests run in one process, so the cache need not be shared between processes as the
    served site's is (a database table without Redis): a process-local one is cleared around
    every test without a database. tests/mcp_endpoint/test_oauth_clients.py serves the site
    with its real cache."""
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Sign-in rate limits and used one-time codes live in the cache: none carry over."""
    cache.clear()
    yield
    cache.clear()


def _csrf(client: Client, url: str) -> dict[str, str]:
    """The form's CSRF token, for clients that enforce CSRF checks as browsers do."""
    page = client.get(url)
    return {"csrfmiddlewaretoken": str(page.context["csrf_token"])} if page.context else {}


def sign_in_with_mfa(client: Client, user: User, password: str) -> None:
    """Sign in the way a person does: password, then a TOTP code from their authenticator."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = client.post(
        "/accounts/login/",
        {"login": user.username, "password": password, **_csrf(client, "/accounts/login/")},
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/authenticate/")
    form = _csrf(client, "/accounts/2fa/authenticate/")
    # The code is good for its 30-second step only (no tolerance): never post one made in
    # the last moments of a step.
    left = 30 - time.time() % 30
    if left < 2:
        time.sleep(left + 0.05)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post("/accounts/2fa/authenticate/", {"code": code, **form})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
def admin_client(db: None) -> Client:
    """A superuser's browser, signed in with a second factor as the admin site requires."""
    user = User.objects.create_superuser("admin", "admin@example.com", "admin-password-123")
    client = Client()
    sign_in_with_mfa(client, user, "admin-password-123")
    return client


@pytest.fixture
def operator() -> Operator:
    return Operator()


@pytest.fixture
def alice(db: None) -> User:
    """A viewer with a grant on one account only."""
    user = User.objects.create_user("alice", "alice@example.com", "alice-password-123")
    assign_role(user, Role.VIEWER)
    return user


@pytest.fixture
def bob(db: None) -> User:
    """A viewer with no grant at all."""
    user = User.objects.create_user("bob", "bob@example.com", "bob-password-123")
    assign_role(user, Role.VIEWER)
    return user


@pytest.fixture
def charlie(db: None) -> User:
    """An admin who sees every account."""
    user = User.objects.create_user(
        "charlie", "charlie@example.com", "charlie-password-123", is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="view_all_accounts"))
    assign_role(user, Role.ADMIN)
    return user


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "root-password-123")


def grant(user: User, account: AwsAccount) -> AccountAccess:
    return AccountAccess.objects.create(user=user, account=account)


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield
    forget_leaked_ec2()


def forget_leaked_ec2() -> None:
    """Drop the EC2 backend moto's reset leaves behind as a mock ends.

    The reset runs each backend's constructor again; Auto Scaling's and ELB's reach for the EC2
    backend, which the same reset has just emptied, so a new one is made and left out of moto's
    registry: the next mock would start with it, made under whatever environment held at the end
    of this one (without default AMIs, when a test asked for that)."""
    from moto.ec2.models import ec2_backends

    ec2_backends.clear()
