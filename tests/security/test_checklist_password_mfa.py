"""The checklist item "MFA required for password sign-in", in each of its states."""

from __future__ import annotations

from django.test import override_settings
from django.utils import timezone

from compliance.checklist.base import Context, Status
from compliance.checklist.evaluation import default_session_for, evaluate_item
from compliance.checklist.items import ITEMS_BY_ID

ITEM = "auth.password_sign_in_mfa"


def _check() -> tuple[Status, str]:
    ctx = Context(now=timezone.now(), session_for=default_session_for)
    result = evaluate_item(ITEMS_BY_ID[ITEM], ctx)
    return result.status, result.evidence


def test_the_item_is_required_and_named_as_the_guidance_names_it() -> None:
    item = ITEMS_BY_ID[ITEM]
    assert (item.title, item.required, str(item.section)) == (
        "MFA required for password sign-in",
        True,
        "Authentication",
    )


def test_it_passes_by_default(db: None) -> None:
    assert _check() == (
        Status.PASS,
        "A password sign-in without a second factor must set one up before any page opens",
    )


@override_settings(PASSWORD_SIGNIN_REQUIRES_MFA=False)
def test_it_fails_when_the_requirement_is_off(db: None) -> None:
    assert _check() == (
        Status.FAIL,
        "PASSWORD_SIGNIN_REQUIRES_MFA is off: a stolen password alone opens the dashboard",
    )


@override_settings(PASSWORD_SIGNIN_REQUIRES_MFA=False, SOCIALACCOUNT_ONLY=True)
def test_it_passes_when_nobody_signs_in_with_a_password(db: None) -> None:
    assert _check() == (Status.PASS, "SSO_ONLY is on: nobody signs in with a password")
