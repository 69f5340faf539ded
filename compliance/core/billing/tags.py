"""Resource tags as a bill carries them: FOCUS ``Tags`` and CUR 2.0 ``resource_tags``.

Both hold one JSON object of text to text per row (in Parquet, CUR 2.0 writes a map, which the
reader turns into the same JSON). A bill carries only the tag keys activated as cost allocation
tags, each with a prefix saying who set it: FOCUS writes ``user:CostCenter`` and
``aws:createdBy``, CUR 2.0 ``user_CostCenter`` and ``aws_createdBy``. User tags are kept under
the key the resource carries (``CostCenter``), so they compare with the policy's keys exactly;
AWS-generated tags under ``aws:`` and their own name; a key with no prefix as written.

A resource's tags may change within a billing period. Its rows are folded per (period, account,
resource id) into the tags of its row with the latest charge period start (FOCUS
``ChargePeriodStart``, CUR ``line_item_usage_start_date``; without that column, the last row
read), so memory grows with the number of resources, never with the number of rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from compliance.core.billing.columns import BillError, is_null, parse_timestamp

#: Longer keys and values are cut to these, ending in "…", as a scan stores tags.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

USER_PREFIXES = ("user:", "user_")
AWS_PREFIXES = ("aws:", "aws_")

Tags = dict[str, str]


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tag_name(bill_key: str) -> str:
    """The tag key a bill's key stands for: ``user:CostCenter`` and ``user_CostCenter`` are
    ``CostCenter``; ``aws_createdBy`` is ``aws:createdBy``."""
    if bill_key.startswith(USER_PREFIXES):
        return bill_key[len("user:") :]
    if bill_key.startswith(AWS_PREFIXES):
        return "aws:" + bill_key[len("aws:") :]
    return bill_key


#: The most tags one cell may hold: AWS allows 50 user tags on a resource, and a bill adds the
#: AWS-generated ones it was told to carry. More is no bill AWS writes.
MAX_TAGS = 500
#: The longest cell read: MAX_TAGS tags of the longest key and value, with JSON's punctuation.
MAX_CELL = MAX_TAGS * (4 * (MAX_TAG_KEY + MAX_TAG_VALUE) + 8)


def parse_tags(text: str, n: int, column: str) -> Tags:
    """The tags of one cell; an empty, ``NULL`` or ``{}`` cell holds none. Two bill keys that
    name the same tag (``user:CostCenter`` and ``user_CostCenter``) are refused: which one the
    resource carries cannot be told."""
    if text == "" or text.isspace() or is_null(text):
        return {}
    if len(text) > MAX_CELL:
        raise BillError.at(n, column, f"longer than {MAX_CELL} characters: no tags AWS writes")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BillError.at(n, column, "not a JSON object of tag keys to values") from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | None) for k, v in value.items()
    ):
        raise BillError.at(n, column, "not a JSON object of tag keys to text values")
    if len(value) > MAX_TAGS:
        raise BillError.at(n, column, f"{len(value)} tags, more than the {MAX_TAGS} read")
    tags: Tags = {}
    for key, tag_value in value.items():
        name = fit(tag_name(key), MAX_TAG_KEY)
        if name in tags:
            raise BillError.at(n, column, f"two keys name the tag {name!r}")
        tags[name] = fit(tag_value or "", MAX_TAG_VALUE)
    return tags


@dataclass(slots=True)
class _Latest:
    charged_from: str
    cell: str
    tags: Tags


@dataclass(slots=True)
class BillTags:
    """The tags of each resource of a bill, folded as the module says, while rows stream."""

    column: str
    period_column: str | None
    by_resource: dict[tuple[str, str, str], _Latest] = field(default_factory=dict)

    def add(self, key: tuple[str, str, str], charged_from: str, cell: str, n: int) -> None:
        """Fold one row's tags cell; ``key``: its (period start, account, resource id)."""
        seen = self.by_resource.get(key)
        if seen is None:
            self.by_resource[key] = _Latest(charged_from, cell, parse_tags(cell, n, self.column))
            return
        if cell == seen.cell:
            if charged_from > seen.charged_from:
                seen.charged_from = charged_from
            return
        tags = parse_tags(cell, n, self.column)  # checked whichever row wins
        if self.period_column is None or _later(
            charged_from, seen.charged_from, n, self.period_column
        ):
            self.by_resource[key] = _Latest(charged_from, cell, tags)

    def keys(self) -> list[str]:
        """Every tag key the bill carries on some resource."""
        return sorted({key for latest in self.by_resource.values() for key in latest.tags})

    def items(self) -> list[tuple[tuple[str, str, str], Mapping[str, str]]]:
        return [(key, latest.tags) for key, latest in self.by_resource.items()]


def _later(text: str, than: str, n: int, column: str) -> bool:
    """Whether a charge period starting at ``text`` is later than one starting at ``than``
    (both from ``column``); read as timestamps only when the tags differ, which is seldom."""
    if text == than:
        return True  # same start: the row read last wins
    if not than:
        return True
    if not text:
        return False
    return parse_timestamp(text, n, column) >= parse_timestamp(than, n, column)
