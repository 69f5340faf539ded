"""Django system checks of this app's settings (``manage.py check``, and every command)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from compliance.aws import RESOURCE_TYPES
from compliance.core import names


@checks.register(checks.Tags.compatibility)
def scan_default_types(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``SCAN_DEFAULT_TYPES`` names supported types only: a typo would refuse every scan."""
    problem = names.unknown_names("resource type", settings.SCAN_DEFAULT_TYPES, RESOURCE_TYPES)
    if problem is None:
        return []
    return [checks.Error(f"SCAN_DEFAULT_TYPES: {problem}", id="compliance.E001")]
