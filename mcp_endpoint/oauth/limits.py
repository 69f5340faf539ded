"""How fast clients may register themselves, read from the environment at start-up.

Dynamic registration is open to anyone who can reach the server, so it is rate limited per
address. An assistant vendor's connectors reach the server from a few shared egress
addresses, one registration per person who adds the connector: allauth's default (3 a minute
per address) refuses a team adopting the connector together. The limit per address is a
setting, in allauth's own notation, with a default sized for that; a ceiling per hour for the
whole server bounds what many addresses together can add.

Importable from settings: no models, no Django setup needed.
"""

from __future__ import annotations

import re

from django.core.exceptions import ImproperlyConfigured

#: Registrations per address: 30 a minute, 300 an hour.
DEFAULT_DCR_RATE_LIMIT = "30/m/ip,300/h/ip"
#: Registrations per hour for the whole server.
DEFAULT_DCR_MAX_PER_HOUR = 2000

_RATE = re.compile(r"^[1-9][0-9]{0,6}/[0-9]{0,6}[smhd](/ip)?$")


def checked_rate_limit(value: str, variable: str) -> str:
    """``value`` when it is a comma-separated list of ``<count>/<period>[/ip]`` rates
    (for example ``30/m/ip,300/h/ip``; the period is a number of s, m, h or d)."""
    rates = [part.strip() for part in value.split(",")]
    if not value.strip() or not all(_RATE.fullmatch(rate) for rate in rates):
        raise ImproperlyConfigured(
            f"{variable}: expected rates such as {DEFAULT_DCR_RATE_LIMIT!r} "
            "(<count>/<period>/ip, the period in s, m, h or d, separated by commas)"
        )
    return ",".join(rate if rate.endswith("/ip") else f"{rate}/ip" for rate in rates)
