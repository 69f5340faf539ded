"""Security events: structured JSON WARNING lines on the ``security`` logger.

Repeated auth failures, unknown tools, refused inputs and exhausted budgets are counted per
source in a shared window; once a source reaches the configured threshold
(``MCP_ALERT_*``), each further event in that window is logged, so one typo stays quiet and a
probe or a runaway client is visible (ready for a CloudWatch metric filter on ``event``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

logger = logging.getLogger("security")

#: Event kind -> the setting holding its threshold.
THRESHOLDS = {
    "auth_failed": "MCP_ALERT_AUTH_FAILURES",
    "unknown_tool": "MCP_ALERT_UNKNOWN_TOOLS",
    "refused_input": "MCP_ALERT_REFUSED_INPUTS",
    "budget_exhausted": "MCP_ALERT_BUDGET_EXHAUSTED",
}


def note(kind: str, source: str, **fields: Any) -> bool:
    """Count one event of ``kind`` from ``source``; log it once the threshold is reached.

    Returns whether a line was logged. Never raises: monitoring must not break a request.
    """
    from mcp_endpoint import counters

    try:
        threshold = int(getattr(settings, THRESHOLDS[kind]))
        window = settings.MCP_ALERT_WINDOW_SECONDS
        quiet = counters.hit(
            f"alert_{kind}", source, limit=max(threshold - 1, 0), window_seconds=window
        )
        if quiet.allowed:
            return False
        logger.warning(
            kind,
            extra={"security": {"event": kind, "source": source, "threshold": threshold, **fields}},
        )
    except Exception:
        logging.getLogger(__name__).exception("security monitoring failed")
        return False
    return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "security", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
