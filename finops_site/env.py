"""Typed readers for configuration from the environment.

Every reader raises ``ImproperlyConfigured`` naming the variable, so a bad value stops start-up
with a message an operator can act on instead of a confusing failure later.
Secrets may come from ``NAME_FILE`` (Docker and Kubernetes secrets are mounted as files).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Read ``name``, or the content of the file named by ``NAME_FILE``."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        if name in os.environ:
            raise ImproperlyConfigured(f"{name}: set either {name} or {name}_FILE, not both")
        try:
            return Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_path!r} ({exc.strerror})"
            ) from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if name not in os.environ and f"{name}_FILE" not in os.environ:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env_str(name).strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        bound = f"between {minimum}{upper}" if maximum is not None else f"at least {minimum}"
        raise ImproperlyConfigured(f"{name}: must be {bound}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = env_str(name)
    if not raw.strip():
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP network (CIDR)") from None
    return networks


def env_origins(name: str) -> list[str]:
    """Origins must be scheme://host[:port], as browsers send them in the Origin header."""
    origins = env_list(name)
    for origin in origins:
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in {"http", "https"} or not rest or "/" in rest:
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin (expected https://host[:port])"
            )
    return origins
