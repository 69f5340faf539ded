"""Who may see which AWS accounts: the one place that decides it.

Every selector starts from :func:`visible_accounts`, so no page, tool or export can forget the
per-account grants.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from django.db.models import Q, QuerySet

from compliance.models import AwsAccount


@dataclass(frozen=True, slots=True)
class Operator:
    """Someone with shell access to the server (management commands): sees every account.

    Having the server's shell already means having its database credentials, so narrowing the
    view here would protect nothing; it is explicit so that no code path gets it by accident.
    """

    label: str = "cli"


@dataclass(frozen=True, slots=True)
class NarrowedViewer:
    """A user acting through a credential (an MCP API key) that may narrow what they see.

    The credential never widens the view: the accounts are the user's own visible accounts,
    intersected with ``account_ids`` when the credential names some (``None``: all of the
    user's). Audit rows still name the user as the actor.
    """

    user: AbstractBaseUser
    account_ids: frozenset[str] | None = None
    label: str = ""


Viewer: TypeAlias = AbstractBaseUser | AnonymousUser | Operator | NarrowedViewer


T = TypeVar("T")

#: Within :func:`one_answer`: what each viewer may see, read once.
_answering: ContextVar[dict[Hashable, Any] | None] = ContextVar("answering", default=None)


@contextmanager
def one_answer() -> Iterator[None]:
    """Within, whether a viewer sees every account, which accounts it sees and the latest
    finished scan are read from the database once, however many selectors ask: for the span
    of one page or tool call, which changes no grant and answers from one scan. Outside, every
    call reads them afresh."""
    token = _answering.set({})
    try:
        yield
    finally:
        _answering.reset(token)


def _viewer_key(viewer: Viewer) -> Hashable:
    if isinstance(viewer, Operator | NarrowedViewer):
        return viewer  # frozen dataclasses: equal when they see the same
    return (type(viewer), viewer.pk, viewer.is_authenticated, viewer.is_active)


def _once(question: str, viewer: Viewer, answer: Callable[[], T]) -> T:
    return once_per_answer((question, _viewer_key(viewer)), answer)


def once_per_answer(question: Hashable, answer: Callable[[], T]) -> T:
    """``answer()``, computed once within :func:`one_answer` (every call outside it)."""
    memo = _answering.get()
    if memo is None:
        return answer()
    if question not in memo:
        memo[question] = answer()
    found: T = memo[question]
    return found


def sees_all_accounts(viewer: Viewer) -> bool:
    return _once("all", viewer, lambda: _sees_all_accounts(viewer))


def _sees_all_accounts(viewer: Viewer) -> bool:
    if isinstance(viewer, Operator):
        return True
    if isinstance(viewer, NarrowedViewer):
        return viewer.account_ids is None and sees_all_accounts(viewer.user)
    if not viewer.is_authenticated or not viewer.is_active:
        return False
    return isinstance(viewer, PermissionsMixin) and viewer.has_perm("compliance.view_all_accounts")


def visible_accounts(viewer: Viewer) -> QuerySet[AwsAccount]:
    if _answering.get() is None or sees_all_accounts(viewer):
        return _visible_accounts(viewer)
    ids = _once(
        "visible",
        viewer,
        lambda: frozenset(_visible_accounts(viewer).values_list("pk", flat=True)),
    )
    return AwsAccount.objects.filter(pk__in=ids)


def visible_account_ids(viewer: Viewer) -> frozenset[str]:
    """The AWS account ids of :func:`visible_accounts`."""
    return _once(
        "visible ids",
        viewer,
        lambda: frozenset(visible_accounts(viewer).values_list("account_id", flat=True)),
    )


def _visible_accounts(viewer: Viewer) -> QuerySet[AwsAccount]:
    if isinstance(viewer, NarrowedViewer):
        own = visible_accounts(viewer.user)
        if viewer.account_ids is None:
            return own
        return own.filter(account_id__in=viewer.account_ids)
    accounts = AwsAccount.objects.all()
    if sees_all_accounts(viewer):
        return accounts
    if isinstance(viewer, Operator) or not viewer.is_authenticated or not viewer.is_active:
        return accounts.none()
    return accounts.filter(
        Q(grants__user_id=viewer.pk) | Q(grants__group__user__id=viewer.pk)
    ).distinct()


def viewer_label(viewer: Viewer) -> str:
    if isinstance(viewer, Operator):
        return viewer.label
    if isinstance(viewer, NarrowedViewer):
        return viewer.label or viewer_label(viewer.user)
    if not viewer.is_authenticated:
        return "anonymous"
    return str(viewer.get_username())
