"""Staged items into resources on PostgreSQL: the steps of ``merge``, as set-based SQL.

Row by row through the ORM, finalisation spends most of its time building model instances and
statements; here each write to a real table is one statement over the staging table. Judging
stays in Python, with the same :class:`~compliance.scans.merge.Judge` (the policy engine is the
one definition of a violation): tags are read in chunks, judged, and the verdicts and findings
written with ``COPY`` to two temporary tables keyed by ARN, dropped at commit.

Order matters: tag changes compare the staged tags with the resource's tags before the upsert
overwrites them, and violations are replaced after it, when every resource has its id.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import QuerySet

from compliance.models import AwsAccount, Scan, ScanItem
from compliance.scans.merge import (
    CHUNK,
    EXPECTED_LENGTH,
    Judge,
    forget_gone_violations,
    unseen_resources,
)

_JUDGEMENT_TABLES = (
    "DROP TABLE IF EXISTS scan_verdict, scan_finding",
    # A scan repeats finalisation inside one outer transaction only in tests; the DROP above
    # makes that safe, ON COMMIT DROP cleans up otherwise.
    "CREATE TEMPORARY TABLE scan_verdict (arn varchar(2048) NOT NULL, is_compliant boolean,"
    " violation_count integer NOT NULL) ON COMMIT DROP",
    "CREATE TEMPORARY TABLE scan_finding (arn varchar(2048) NOT NULL,"
    " violation_type varchar(24) NOT NULL, tag_name varchar(128) NOT NULL,"
    " current_value varchar(256), expected varchar(1024) NOT NULL) ON COMMIT DROP",
)

# Keys are compared as they are; a key or value is cut to its column's length as the ORM path
# does. jsonb equality ignores key order, as dict equality does.
_RECORD_TAG_CHANGES = """
INSERT INTO compliance_tagchange
    (resource_id, scan_id, observed_at, key, kind, old_value, new_value)
SELECT r.id, %(scan)s, %(now)s, left(d.key, 128),
       CASE WHEN d.old IS NULL THEN 'added' WHEN d.new IS NULL THEN 'removed' ELSE 'changed' END,
       left(d.old, 256), left(d.new, 256)
FROM compliance_scanitem s
JOIN compliance_resource r ON r.arn = s.arn
CROSS JOIN LATERAL (
    SELECT coalesce(o.key, n.key) AS key, o.value AS old, n.value AS new
    FROM jsonb_each_text(r.tags) o FULL JOIN jsonb_each_text(s.tags) n ON n.key = o.key
    WHERE o.value IS DISTINCT FROM n.value
) d
WHERE s.scan_id = %(scan)s AND s.account_id = ANY(%(accounts)s) AND r.tags <> s.tags
ORDER BY r.id, d.key
"""

# Only staged items that were judged (those of the scanned accounts) have a verdict, so the
# join with scan_verdict also leaves out accounts the scan did not ask for.
_UPSERT_RESOURCES = """
INSERT INTO compliance_resource AS r
    (arn, account_id, region, resource_type, name, tags, attributes, first_seen_at,
     last_seen_at, gone_since, last_seen_scan_id, is_compliant, violation_count)
SELECT s.arn, a.id, s.region, s.resource_type, s.name, s.tags, s.attributes, %(now)s,
       %(now)s, NULL, %(scan)s, v.is_compliant, v.violation_count
FROM compliance_scanitem s
JOIN scan_verdict v ON v.arn = s.arn
JOIN compliance_awsaccount a ON a.account_id = s.account_id
WHERE s.scan_id = %(scan)s
ON CONFLICT (arn) DO UPDATE SET
    account_id = excluded.account_id,
    region = excluded.region,
    resource_type = excluded.resource_type,
    name = excluded.name,
    tags = excluded.tags,
    attributes = excluded.attributes,
    last_seen_at = excluded.last_seen_at,
    gone_since = NULL,
    last_seen_scan_id = excluded.last_seen_scan_id,
    is_compliant = excluded.is_compliant,
    violation_count = excluded.violation_count
"""

_APPLY_VERDICTS = """
UPDATE compliance_resource r
SET is_compliant = v.is_compliant, violation_count = v.violation_count
FROM scan_verdict v
WHERE r.arn = v.arn
"""

# Every judged resource (one verdict each) loses its violations and gets its findings instead;
# one found again keeps its first detection time. The DELETE in the WITH runs on the snapshot
# the INSERT reads, so the old rows are still there to be joined.
_REPLACE_VIOLATIONS = """
WITH judged AS (
    SELECT r.id FROM scan_verdict v JOIN compliance_resource r ON r.arn = v.arn
), previous AS (
    DELETE FROM compliance_violation old USING judged
    WHERE old.resource_id = judged.id
    RETURNING old.resource_id, old.violation_type, old.tag_name, old.first_detected_at
), first_detected AS (
    SELECT resource_id, violation_type, tag_name, min(first_detected_at) AS at
    FROM previous GROUP BY resource_id, violation_type, tag_name
)
INSERT INTO compliance_violation
    (resource_id, scan_id, policy_id, violation_type, tag_name, current_value, expected,
     first_detected_at)
SELECT r.id, %(scan)s, %(policy)s, f.violation_type, f.tag_name, f.current_value, f.expected,
       coalesce(p.at, %(now)s)
FROM scan_finding f
JOIN compliance_resource r ON r.arn = f.arn
LEFT JOIN first_detected p
    ON p.resource_id = r.id AND p.violation_type = f.violation_type AND p.tag_name = f.tag_name
"""


def analyse_staging() -> None:
    """Fresh planner statistics for the staging table before it is merged: a scan collected in
    seconds leaves statistics of an almost empty table behind (autovacuum has not caught up),
    and the merge's joins would be planned for a few rows instead of the scan's."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE compliance_scanitem")


def merge_items(
    scan: Scan,
    judge: Judge,
    accounts: dict[str, AwsAccount],
    now: datetime,
) -> None:
    """Upsert staged items into Resource, judged, recording tag changes."""
    staged = ScanItem.objects.filter(scan=scan, account_id__in=accounts.keys())
    params: dict[str, Any] = {"scan": scan.pk, "now": now, "accounts": list(accounts.keys())}
    with connection.cursor() as cursor:
        _judge_into_tables(cursor, judge, staged)
        cursor.execute(_RECORD_TAG_CHANGES, params)
        cursor.execute(_UPSERT_RESOURCES, params)
        _replace_violations(cursor, judge)


def rejudge_unseen(judge: Judge, accounts: dict[str, AwsAccount]) -> None:
    """Judge again the present resources this scan did not see (``merge.unseen_resources``)."""
    forget_gone_violations(accounts)
    with connection.cursor() as cursor:
        if not _judge_into_tables(cursor, judge, unseen_resources(judge.scan, accounts)):
            return
        cursor.execute(_APPLY_VERDICTS)
        _replace_violations(cursor, judge)


def _judge_into_tables(cursor: CursorWrapper, judge: Judge, rows: QuerySet[Any]) -> int:
    """Judge ``rows`` (staged items or resources) into fresh judgement tables; how many."""
    for statement in _JUDGEMENT_TABLES:
        cursor.execute(statement)
    judged = 0
    # One query streamed through a server-side cursor: the staging table is read once, and
    # the COPYs below run between its fetches.
    stream = rows.values_list("arn", "resource_type", "tags").iterator(chunk_size=CHUNK)
    while chunk := list(islice(stream, CHUNK)):
        verdicts: list[tuple[str, bool | None, int]] = []
        findings: list[tuple[str, str, str, str | None, str]] = []
        for arn, resource_type, tags in chunk:
            is_compliant, found = judge.verdict(resource_type, tags)
            verdicts.append((arn, is_compliant, len(found)))
            findings.extend(
                (arn, f.violation_type, f.tag_name, f.current_value, f.expected[:EXPECTED_LENGTH])
                for f in found
            )
        with connection.wrap_database_errors:  # COPY bypasses Django's cursor wrapper
            with cursor.copy("COPY scan_verdict FROM STDIN") as copy:
                for verdict in verdicts:
                    copy.write_row(verdict)
            with cursor.copy("COPY scan_finding FROM STDIN") as copy:
                for finding in findings:
                    copy.write_row(finding)
        judged += len(chunk)
    # Fresh temporary tables have no statistics; without them the joins below are planned
    # for a handful of rows.
    cursor.execute("ANALYZE scan_verdict, scan_finding")
    return judged


def _replace_violations(cursor: CursorWrapper, judge: Judge) -> None:
    cursor.execute(
        _REPLACE_VIOLATIONS,
        {"scan": judge.scan.pk, "policy": judge.policy_row.pk, "now": judge.now},
    )
