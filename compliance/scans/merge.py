"""Staged items into resources, the portable way: ORM batches of ``CHUNK`` rows.

Every step of finalisation that touches one row per resource is here: upsert, tag changes,
judging and violations, and judging again the present resources the scan did not see.
``merge_postgres`` does the same on PostgreSQL with set-based SQL; both judge with
:class:`Judge`, so a verdict means the same on either database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from compliance.core import policy
from compliance.models import (
    AwsAccount,
    Resource,
    Scan,
    ScanItem,
    TagChange,
    TaggingPolicy,
    Violation,
)

CHUNK = 2000
EXPECTED_LENGTH = Violation._meta.get_field("expected").max_length or 1024


class Judge:
    """Judges resources with the scan's policy, and replaces their violations chunk by chunk.

    A violation found again keeps its ``first_detected_at``, so "violating since" survives
    rescans.
    """

    def __init__(self, scan: Scan, policy_row: TaggingPolicy, now: datetime) -> None:
        self.scan = scan
        self.policy_row = policy_row
        self.policy = policy.policy_from_dict(policy_row.document)
        self.now = now

    def verdict(
        self, resource_type: str, tags: Mapping[str, str]
    ) -> tuple[bool | None, list[policy.Finding]]:
        """``is_compliant`` (None: no required tag applies) and the findings."""
        return policy.judge(self.policy, resource_type, tags)

    def replace_violations(self, judged: list[tuple[int, list[policy.Finding]]]) -> None:
        ids = [resource_id for resource_id, _ in judged]
        first_detected = {
            (v.resource_id, v.violation_type, v.tag_name): v.first_detected_at
            for v in Violation.objects.filter(resource_id__in=ids).only(
                "resource_id", "violation_type", "tag_name", "first_detected_at"
            )
        }
        if first_detected:
            Violation.objects.filter(resource_id__in=ids).delete()
        Violation.objects.bulk_create(
            [
                Violation(
                    resource_id=resource_id,
                    scan=self.scan,
                    policy=self.policy_row,
                    violation_type=finding.violation_type,
                    tag_name=finding.tag_name,
                    current_value=finding.current_value,
                    expected=finding.expected[:EXPECTED_LENGTH],
                    first_detected_at=first_detected.get(
                        (resource_id, finding.violation_type, finding.tag_name), self.now
                    ),
                )
                for resource_id, findings in judged
                for finding in findings
            ]
        )


def chunks(queryset: QuerySet[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """Keyset pagination by primary key: flat memory, no OFFSET scans."""
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def merge_items(
    scan: Scan,
    judge: Judge,
    accounts: dict[str, AwsAccount],
    now: datetime,
) -> None:
    """Upsert staged items into Resource, judged on the way, recording tag changes.

    Each chunk is judged while its tags are in hand, so a resource is read once and written
    once; only resources this scan did not see are judged again afterwards (``rejudge_unseen``).
    """
    for items in chunks(ScanItem.objects.filter(scan=scan)):
        # A subquery rather than a list of ARNs: no thousand-string parameter to send.
        chunk = ScanItem.objects.filter(scan=scan, pk__gte=items[0].pk, pk__lte=items[-1].pk)
        known = {
            row["arn"]: row
            for row in Resource.objects.filter(arn__in=chunk.values("arn")).values(
                "id", "arn", "tags"
            )
        }
        changes: list[TagChange] = []
        upserts: list[Resource] = []
        for item in items:
            account = accounts.get(item.account_id)
            if account is None:  # credentials answered for an account not asked for
                continue
            previous = known.get(item.arn)
            if previous is not None:
                changes.extend(_tag_changes(previous["id"], previous["tags"], item.tags, scan, now))
            upserts.append(
                Resource(
                    arn=item.arn,
                    account=account,
                    region=item.region,
                    resource_type=item.resource_type,
                    name=item.name,
                    tags=item.tags,
                    attributes=item.attributes,
                    first_seen_at=now,
                    last_seen_at=now,
                    gone_since=None,
                    last_seen_scan=scan,
                )
            )
        verdicts = [judge.verdict(r.resource_type, r.tags) for r in upserts]
        for resource, (is_compliant, findings) in zip(upserts, verdicts, strict=True):
            resource.is_compliant = is_compliant
            resource.violation_count = len(findings)
        Resource.objects.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["arn"],
            update_fields=[
                "account",
                "region",
                "resource_type",
                "name",
                "tags",
                "attributes",
                "last_seen_at",
                "gone_since",
                "last_seen_scan",
                "is_compliant",
                "violation_count",
            ],
        )
        ids = _resource_ids(upserts, known)
        judge.replace_violations(
            [(ids[r.arn], findings) for r, (_, findings) in zip(upserts, verdicts, strict=True)]
        )
        TagChange.objects.bulk_create(changes)


def _resource_ids(
    upserts: list[Resource], known: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """ARN -> primary key; PostgreSQL and SQLite return the keys of upserted rows."""
    ids = {r.arn: r.pk for r in upserts if r.pk is not None}
    missing = [r.arn for r in upserts if r.arn not in ids and r.arn not in known]
    ids.update({arn: row["id"] for arn, row in known.items() if arn not in ids})
    if missing:
        ids.update(Resource.objects.filter(arn__in=missing).values_list("arn", "id"))
    return ids


def _tag_changes(
    resource_id: int, old: dict[str, str], new: dict[str, str], scan: Scan, now: datetime
) -> Iterable[TagChange]:
    if old == new:
        return []
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        kind = (
            TagChange.Kind.ADDED
            if before is None
            else TagChange.Kind.REMOVED
            if after is None
            else TagChange.Kind.CHANGED
        )
        changes.append(
            TagChange(
                resource_id=resource_id,
                scan=scan,
                observed_at=now,
                key=key[:128],
                kind=kind,
                old_value=None if before is None else before[:256],
                new_value=None if after is None else after[:256],
            )
        )
    return changes


def forget_gone_violations(accounts: dict[str, AwsAccount]) -> None:
    """Violations of the scanned accounts' gone resources no longer count."""
    Violation.objects.filter(
        resource__account_id__in=[a.pk for a in accounts.values()],
        resource__gone_since__isnull=False,
    ).delete()


def unseen_resources(scan: Scan, accounts: dict[str, AwsAccount]) -> QuerySet[Resource]:
    """The present resources of the scanned accounts this scan did not see (a failed region, a
    filtered type). They keep their last known tags but are judged by this scan's policy, so
    every current violation of the scanned accounts comes from the same policy version."""
    return Resource.objects.filter(
        account_id__in=[a.pk for a in accounts.values()], gone_since__isnull=True
    ).exclude(last_seen_scan=scan)


def rejudge_unseen(judge: Judge, accounts: dict[str, AwsAccount]) -> None:
    """Judge again the present resources this scan did not see (see ``unseen_resources``)."""
    forget_gone_violations(accounts)
    unseen = unseen_resources(judge.scan, accounts).only("id", "resource_type", "tags")
    for resources in chunks(unseen):
        verdicts = [judge.verdict(r.resource_type, r.tags) for r in resources]
        by_outcome: dict[tuple[bool | None, int], list[int]] = defaultdict(list)
        for resource, (is_compliant, findings) in zip(resources, verdicts, strict=True):
            by_outcome[(is_compliant, len(findings))].append(resource.pk)
        for (is_compliant, count), resource_ids in by_outcome.items():
            Resource.objects.filter(pk__in=resource_ids).update(
                is_compliant=is_compliant, violation_count=count
            )
        judge.replace_violations(
            [(r.pk, findings) for r, (_, findings) in zip(resources, verdicts, strict=True)]
        )
