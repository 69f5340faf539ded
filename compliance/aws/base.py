"""What every collector produces and what a scan run reports, free of boto3 types.

The scan orchestration (``compliance.scans``) only sees these dataclasses, so the ORM side never
touches a boto3 object and the collectors never touch the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Label used as the region of work that is not regional (S3's global bucket list).
GLOBAL_REGION = "global"


@dataclass(frozen=True, slots=True)
class DiscoveredResource:
    """One resource as a collector saw it.

    ``region`` is the resource's own region (for S3, the bucket's location, not ``global``).
    ``attributes`` carries the few facts other features need (``vpc_id``, ``parent_arn`` for an
    attached volume's instance, ``state``...), as plain strings.
    """

    arn: str
    resource_type: str
    account_id: str
    region: str
    name: str
    tags: dict[str, str]
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountTarget:
    """An AWS account to scan and how to reach it.

    ``regions`` empty means: the regions enabled for the account.
    """

    account_id: str
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] = ()


JobStatus = Literal["ok", "failed"]


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """The end of one unit of work: one account x region x resource type.

    Account-wide failures (a role that cannot be assumed, regions that cannot be listed) are
    reported with ``region="*"`` and ``resource_type="*"``.
    """

    account_id: str
    region: str
    resource_type: str
    status: JobStatus
    resource_count: int = 0
    error_code: str = ""
    error_message: str = ""
    duration_ms: int = 0
    #: HTTP requests sent to AWS for this job (retries included), and how many AWS throttled.
    requests: int = 0
    throttled: int = 0


@dataclass(frozen=True, slots=True)
class ScanPlan:
    """Emitted once per account when its work is known, so progress can show a total."""

    account_id: str
    regions: tuple[str, ...]
    jobs: int
    #: Requests sent to reach the account (role, identity, regions), and how many were throttled.
    requests: int = 0
    throttled: int = 0


@dataclass(frozen=True, slots=True)
class ResourceBatch:
    resources: list[DiscoveredResource]


InventoryEvent = ScanPlan | ResourceBatch | JobOutcome
