"""Writing collected resources to staging (``ScanItem``), one batch at a time.

An ARN seen twice in a scan is staged once, as first seen. On PostgreSQL a batch is written
with ``COPY``, several times faster than an ``INSERT`` of the same rows; ``COPY`` cannot skip
conflicting rows, so repeats within a batch are dropped here, and a batch repeating an ARN an
earlier batch staged (rare: collectors do not overlap) is written again the portable way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from django.db import IntegrityError, OperationalError, connection, transaction

from compliance.aws.base import DiscoveredResource
from compliance.core.untrusted import marker
from compliance.models import Scan, ScanItem

NAME_LENGTH = ScanItem._meta.get_field("name").max_length or 512

_COPY_STAGING = (
    "COPY compliance_scanitem"
    " (scan_id, arn, account_id, region, resource_type, name, tags, attributes) FROM STDIN"
)


#: Characters no column can hold: PostgreSQL refuses NUL in ``text`` and ``jsonb``, and a lone
#: UTF-16 surrogate is not text at all (it has no UTF-8 encoding; Python strings allow it).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with each character no column can hold replaced by its visible marker
    (``⟨U+0000⟩``, as pages show hidden characters).

    Tag keys and values, names and ARNs come from whoever may tag a resource in a scanned
    account; left as they are, one such tag made the whole batch's ``COPY`` (or ``INSERT``) fail,
    and with it the scan of every account. Both databases store the same marked text."""
    return _UNSTORABLE.sub(lambda found: marker(found.group()), text)


#: AWS's limits on a tag key and value, which the columns that keep them (a violation's
#: value, a tag change) share: a source that breaks them (an emulator, another cloud's API)
#: has its text cut to fit, ending in "…", instead of failing the scan's write.
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def _within(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _storable_item(item: DiscoveredResource) -> DiscoveredResource:
    texts = (item.arn, item.account_id, item.region, item.name, *item.tags, *item.tags.values())
    texts += (*item.attributes, *item.attributes.values())
    oversize = any(len(key) > MAX_TAG_KEY or len(v) > MAX_TAG_VALUE for key, v in item.tags.items())
    if not oversize and not any(_UNSTORABLE.search(text) for text in texts):
        return item
    return replace(
        item,
        arn=storable(item.arn),
        account_id=storable(item.account_id),
        region=storable(item.region),
        name=storable(item.name),
        tags={
            _within(storable(key), MAX_TAG_KEY): _within(storable(value), MAX_TAG_VALUE)
            for key, value in item.tags.items()
        },
        attributes={storable(key): storable(value) for key, value in item.attributes.items()},
    )


def stage(scan: Scan, resources: Sequence[DiscoveredResource]) -> None:
    resources = [_storable_item(item) for item in resources]
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _copy(scan, _first_of_each_arn(resources))
            return
        except IntegrityError:  # an ARN already staged by an earlier batch
            pass
    _insert(scan, resources)


def _first_of_each_arn(resources: Iterable[DiscoveredResource]) -> list[DiscoveredResource]:
    seen: set[str] = set()
    unique = []
    for item in resources:
        if item.arn not in seen:
            seen.add(item.arn)
            unique.append(item)
    return unique


def _copy(scan: Scan, resources: Iterable[DiscoveredResource]) -> None:
    # json.dumps as JSONField itself serialises, so both paths store the same documents. COPY
    # bypasses Django's cursor wrapper: errors are translated here, as for any statement.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.copy(_COPY_STAGING) as copy,
    ):
        for item in resources:
            copy.write_row(
                (
                    scan.pk,
                    item.arn,
                    item.account_id,
                    item.region,
                    item.resource_type,
                    item.name[:NAME_LENGTH],
                    json.dumps(item.tags),
                    json.dumps(item.attributes),
                )
            )


def _insert(scan: Scan, resources: Iterable[DiscoveredResource]) -> None:
    ScanItem.objects.bulk_create(
        [
            ScanItem(
                scan=scan,
                arn=item.arn,
                account_id=item.account_id,
                region=item.region,
                resource_type=item.resource_type,
                name=item.name[:NAME_LENGTH],
                tags=item.tags,
                attributes=item.attributes,
            )
            for item in resources
        ],
        ignore_conflicts=True,
    )


def clear(scan: Scan) -> None:
    """Drop a scan's staged items, finalised or not.

    On PostgreSQL the table is then truncated when no other scan has items in it: deleted rows
    stay as dead tuples until VACUUM, and until autovacuum passes (never, where it is off) each
    later scan reads through them.
    """
    ScanItem.objects.filter(scan=scan).delete()
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # NOWAIT: while another scan stages or finalises, its rows stay and the next scan
            # to finish tries again.
            cursor.execute("LOCK TABLE compliance_scanitem IN ACCESS EXCLUSIVE MODE NOWAIT")
            if not ScanItem.objects.exists():
                cursor.execute("TRUNCATE compliance_scanitem")
    except OperationalError:
        pass
