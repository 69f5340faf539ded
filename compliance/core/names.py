"""Names a person types (resource types, regions), checked against the ones that exist.

A typo is refused with the closest existing names, so ``ec2:instanse`` answers "did you mean
'ec2:instance'?" instead of silently matching nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

#: How alike a suggestion must be (difflib's ratio), and how many are offered.
_CUTOFF = 0.6
_SUGGESTIONS = 3


def closest(value: str, known: Iterable[str]) -> list[str]:
    """The known names most like ``value``, best first (none when nothing is close)."""
    return difflib.get_close_matches(value, sorted(known), n=_SUGGESTIONS, cutoff=_CUTOFF)


def unknown_name(kind: str, value: str, known: Collection[str]) -> str:
    """Why ``value`` is refused: the closest names when some are close, else every name."""
    nearest = closest(value, known)
    if nearest:
        return f"unknown {kind} {value!r}; did you mean {' or '.join(map(repr, nearest))}?"
    return f"unknown {kind} {value!r}; known: {', '.join(sorted(known))}"


def unknown_names(kind: str, values: Iterable[str], known: Collection[str]) -> str | None:
    """Why ``values`` are refused, or ``None`` when all are known: the first unknown one with
    the closest names, then every other unknown one."""
    unknown = sorted(set(values) - set(known))
    if not unknown:
        return None
    message = unknown_name(kind, unknown[0], known)
    if len(unknown) > 1:
        message += f"; also unknown: {', '.join(map(repr, unknown[1:]))}"
    return message


def wildcard_known(value: str, known_types: Collection[str]) -> bool:
    """Whether a policy's ``service:*`` names a service some known type belongs to."""
    service, _, kind = value.partition(":")
    return kind == "*" and any(t.partition(":")[0] == service for t in known_types)
