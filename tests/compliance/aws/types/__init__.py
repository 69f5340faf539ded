"""Every resource type's test case, gathered from the modules that create them.

Each module gives ``FACTORIES`` (type -> a function creating one resource in moto),
``PAGING`` (type -> the list call, the page size to force, whether moto honours it),
``TAGS_FROM_STUB`` (types whose GetResources answer moto cannot give) and ``STUBBED`` (types
moto cannot create, tested against botocore's Stubber in that module's own tests).
"""

from __future__ import annotations

from types import ModuleType

from tests.compliance.aws import estate
from tests.compliance.aws.types import apps, data, ec2_more, security, tooling

GROUPS: tuple[ModuleType, ...] = (estate, ec2_more, data, apps, tooling, security)

FACTORIES: dict[str, estate.Factory] = {}
PAGING: dict[str, tuple[str, int | None, bool]] = {}
TAGS_FROM_STUB: set[str] = set()
STUBBED: set[str] = set()
for _group in GROUPS:
    FACTORIES.update(_group.FACTORIES)
    PAGING.update(_group.PAGING)
    TAGS_FROM_STUB.update(_group.TAGS_FROM_STUB)
    STUBBED.update(_group.STUBBED)
