"""Who may see which AWS accounts: the one place that decides it.

Every read starts from :func:`visible_accounts`, so no page, tool or export can forget the
per-account grants. Grants alone show nothing: a person sees accounts only while their role
allows reading (``Action.VIEW``), so taking the role away empties every answer at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.contrib.auth.models import PermissionsMixin
from django.db.models import Q, QuerySet

from compliance.models import AwsAccount
from compliance.permissions.callers import NarrowedViewer, Operator, Viewer, viewer_label
from compliance.permissions.rules import Action, may_by_role

__all__ = [
    "NarrowedViewer",
    "Operator",
    "Viewer",
    "once_per_answer",
    "one_answer",
    "sees_all_accounts",
    "viewer_label",
    "visible_account_ids",
    "visible_accounts",
]


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
    if not may_by_role(viewer, Action.VIEW):
        return False  # seeing every account is no use to someone who may read nothing
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
    if isinstance(viewer, Operator) or not may_by_role(viewer, Action.VIEW):
        # Grants alone show nothing: reading needs a role that reads (a viewer at least).
        return accounts.none()
    return accounts.filter(
        Q(grants__user_id=viewer.pk) | Q(grants__group__user__id=viewer.pk)
    ).distinct()
