"""Permissions in one place: what a caller may do (``rules``) and which accounts it sees
(``accounts``); roles are the Django groups that hold the model permissions (``roles``)."""

from __future__ import annotations

from compliance.permissions.callers import NarrowedViewer, Operator, Viewer
from compliance.permissions.rules import Action, may, refusal_message, scopes_for

__all__ = [
    "Action",
    "NarrowedViewer",
    "Operator",
    "Viewer",
    "may",
    "refusal_message",
    "scopes_for",
]
