"""(to be written)"""

from __future__ import annotations

from compliance.aws.collectors.core import Collector

COLLECTORS: tuple[Collector, ...] = ()
