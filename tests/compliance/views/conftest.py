"""Shared by the dashboard page tests: a browser signed in with a role, and the estate of
``tests/compliance/billing/bills.py`` with and without its May FOCUS bill.

A module that needs more of the estate (names, tags, snapshots) overrides ``estate`` or
``billed`` with a fixture of the same name that asks for this one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from compliance.models import AwsAccount, Scan
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role, assign_role
from compliance.writes.costs import do_import_costs
from tests.compliance.billing.bills import FOCUS_HEADER, FOCUS_ROWS, build_estate, write_csv
from tests.conftest import grant


def signed_in(
    user: User, role: Role | None, *accounts: str, enforce_csrf_checks: bool = False
) -> Client:
    """``user``'s browser, signed in, holding ``role`` only (``None``: no role) and granted the
    registered ``accounts`` (by id)."""
    assign_role(user, role)
    for account_id in accounts:
        grant(user, AwsAccount.objects.get(account_id=account_id))
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


def person(username: str, role: Role | None, *accounts: str) -> Client:
    """A new user's browser, signed in as :func:`signed_in` signs one in."""
    user = User.objects.create_user(username, f"{username}@example.com", "a-long-password-1")
    return signed_in(user, role, *accounts)


@pytest.fixture
def estate(db: None) -> Scan:
    """bills.py's two accounts (A: four resources, two compliant; B: one, violating) and the
    finished scan that read them."""
    build_estate()
    return Scan.objects.get()


@pytest.fixture
def billed(estate: Scan, tmp_path: Path) -> Scan:
    """The estate with bills.py's May FOCUS bill imported."""
    do_import_costs(str(write_csv(tmp_path / "f.csv", FOCUS_HEADER, FOCUS_ROWS)), acting=Operator())
    return estate
