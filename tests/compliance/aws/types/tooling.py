"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py)."""

from __future__ import annotations

from tests.compliance.aws.estate import Factory

FACTORIES: dict[str, Factory] = {}
PAGING: dict[str, tuple[str, int | None, bool]] = {}
TAGS_FROM_STUB: frozenset[str] = frozenset()
STUBBED: frozenset[str] = frozenset()
