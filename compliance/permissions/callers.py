"""Who is asking: a person, a person acting through a credential, or an operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser


@dataclass(frozen=True, slots=True)
class Operator:
    """Someone with shell access to the server (management commands): sees every account.

    Having the server's shell already means having its database credentials, so narrowing the
    view here would protect nothing; it is explicit so that no code path gets it by accident.
    """

    label: str = "cli"


@dataclass(frozen=True, slots=True)
class NarrowedViewer:
    """A user acting through a credential (an MCP API key or OAuth token, or a stdio session)
    that may narrow what they see and do.

    The credential never widens the view: the accounts are the user's own visible accounts,
    intersected with ``account_ids`` when the credential names some (``None``: all of the
    user's). Audit rows still name the user as the actor.
    """

    user: AbstractBaseUser
    account_ids: frozenset[str] | None = None
    label: str = ""
    #: The credential's scopes (``compliance.permissions.rules``); ``None``: not narrowed.
    scopes: frozenset[str] | None = None


Viewer: TypeAlias = AbstractBaseUser | AnonymousUser | Operator | NarrowedViewer


def viewer_label(viewer: Viewer) -> str:
    if isinstance(viewer, Operator):
        return viewer.label
    if isinstance(viewer, NarrowedViewer):
        return viewer.label or viewer_label(viewer.user)
    if not viewer.is_authenticated:
        return "anonymous"
    return str(viewer.get_username())


#: The actor of what the product does on its own (scan tasks, checklist runs, the watchdogs).
SYSTEM = Operator(label="system")


def person_of(caller: Viewer) -> AbstractBaseUser | AnonymousUser | None:
    """The person a caller acts as (``None`` for an operator)."""
    if isinstance(caller, Operator):
        return None
    return caller.user if isinstance(caller, NarrowedViewer) else caller
