"""Collect the inventory of many accounts, regions and types, concurrently, as a stream.

The caller iterates :func:`collect_inventory` and receives, in its own thread, a ``ScanPlan``
per account, ``ResourceBatch``es, and one ``JobOutcome`` per job. Jobs (account x region x
type) run on a bounded thread pool and hand their results over through a bounded queue, so
memory stays flat whatever the size of the estate and the consumer can write to the database
in the thread that owns the connection.

One failure never stops the scan: an access denied in one region, a throttled service or a
broken collector ends that job with a failed outcome; an account that cannot be reached ends
with one failed outcome for the account, and the other accounts carry on.

Threads: each account gets one boto3 session, created in the pool (AssumeRole included). Its
clients are made under a lock by a :class:`~compliance.aws.session.ClientFactory` and shared by
the jobs of that account: boto3 sessions are not thread-safe, the clients they make are.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from compliance.aws import calls
from compliance.aws import session as aws_session
from compliance.aws.base import (
    GLOBAL_REGION,
    AccountTarget,
    DiscoveredResource,
    InventoryEvent,
    JobOutcome,
    ResourceBatch,
    ScanPlan,
)
from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from compliance.aws.collectors.core import Collector, Scope
from compliance.aws.regions import offered_in
from compliance.core import names

logger = logging.getLogger(__name__)

#: Worker threads are named after this, so a test (or an operator) can tell them apart.
THREAD_NAME_PREFIX = "finops-inventory"
#: Error messages are kept short: they are shown in the scan's data quality report.
MAX_ERROR_MESSAGE = 300
#: How often a worker blocked on a full queue checks whether the consumer has gone away.
_PUT_POLL_SECONDS = 0.1
#: Jobs of one account in one region running at once, whatever the pool's size: AWS throttles
#: per account, region and API, so a scan spreads its calls over accounts and regions instead of
#: sending all of them to one.
PER_ACCOUNT_JOBS = 4


def required_iam_actions() -> list[str]:
    """Every IAM action a scan calls: the least-privilege read-only policy, sorted."""
    actions = set(aws_session.SESSION_IAM_ACTIONS)
    for collector in COLLECTORS.values():
        actions.update(collector.iam_actions)
    return sorted(actions)


def collect_inventory(
    targets: Sequence[AccountTarget],
    *,
    regions: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    max_workers: int = 8,
    batch_size: int = 500,
    per_account: int = PER_ACCOUNT_JOBS,
) -> Generator[InventoryEvent, None, None]:
    """Stream the inventory of ``targets``.

    Regions: ``regions`` when given (it overrides every account's own list, and then S3 buckets
    located elsewhere are left out), else the account's configured regions, else the regions
    enabled for the account. ``types`` limits the resource types; an unknown one raises
    ``ValueError`` here, before any AWS call.

    A failed job may already have streamed some resources: its outcome says the list of that
    account, region and type is incomplete. Closing the iterator early stops the workers and
    waits for them. At most ``per_account`` jobs of one account in one region run at once.
    """
    selected = _select_collectors(types)
    if max_workers < 1 or batch_size < 1 or per_account < 1:
        raise ValueError("max_workers, batch_size and per_account must be at least 1")
    explicit = tuple(sorted(set(regions))) if regions else ()
    return _Run(selected, explicit, batch_size, max_workers, per_account).events(targets)


def _select_collectors(types: Sequence[str] | None) -> tuple[Collector, ...]:
    if not types:
        return tuple(COLLECTORS[name] for name in RESOURCE_TYPES)
    if (problem := names.unknown_names("resource type", types, COLLECTORS)) is not None:
        raise ValueError(problem)
    return tuple(COLLECTORS[name] for name in sorted(set(types)))


def _failure(error: Exception, where: str) -> tuple[str, str]:
    """An error as (code, short message) for a failed outcome: no traceback, no secrets.

    AWS and network errors are expected and logged as one line; anything else is a bug in a
    collector, logged with its traceback (which stays out of the outcome).
    """
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or "ClientError"
        message = details.get("Message") or str(error)
    elif isinstance(error, aws_session.AccountMismatchError):
        code, message = error.code, str(error)
    elif isinstance(error, BotoCoreError):
        code, message = type(error).__name__, str(error)
    else:
        logger.error("%s: unexpected error", where, exc_info=error)
        return "InternalError", "unexpected error, see the scanner's log"
    logger.warning("%s failed: %s %s", where, code, message)
    return code, message[:MAX_ERROR_MESSAGE]


def configured_regions(target: AccountTarget, regions: tuple[str, ...]) -> tuple[str, ...]:
    """The regions to list in ``target`` without asking AWS: ``regions`` (the scan's, sorted)
    when given, else the account's own; empty when neither names any."""
    return regions or tuple(sorted(set(target.regions)))


@dataclass(frozen=True, slots=True)
class ReachedAccount:
    """An account as a scan reaches it: its session, home region and the regions to list."""

    session: boto3.session.Session
    home: str
    regions: tuple[str, ...]


def reach_account(
    target: AccountTarget, regions: tuple[str, ...], *, regional: bool
) -> ReachedAccount | JobOutcome:
    """Reach ``target`` (role assumed, identity checked) and choose its regions: the
    :func:`configured_regions`, else, when ``regional`` types are listed, those enabled for the
    account. An account-level failed outcome when any of that fails."""
    started = time.monotonic()
    try:
        session = aws_session.new_session(target)
        home = aws_session.home_region(session, target)
        aws_session.verify_account(session, target.account_id, home)
        chosen = configured_regions(target, regions)
        if not chosen and regional:
            chosen = aws_session.enabled_regions(session, home)
    except Exception as error:
        code, message = _failure(error, f"account {target.account_id}")
        return JobOutcome(
            target.account_id,
            "*",
            "*",
            "failed",
            error_code=code,
            error_message=message,
            duration_ms=_elapsed_ms(started),
        )
    return ReachedAccount(session, home, chosen)


class _Cancelled(Exception):
    """The consumer stopped iterating: the worker drops what it was doing."""


@dataclass(frozen=True, slots=True)
class _Job:
    collector: Collector
    scope: Scope
    account: _AccountJobs


class _AccountJobs:
    """The jobs of one account in one region (or its global jobs) not yet started: at most
    ``limit`` of them run at once, each finished job starting the next."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waiting: collections.deque[_Job] = collections.deque()
        self.lock = threading.Lock()

    def take(self) -> _Job | None:
        with self.lock:
            return self.waiting.popleft() if self.waiting else None


class _Run:
    """The shared state of one :func:`collect_inventory` call: queue, stop flag, pool."""

    def __init__(
        self,
        collectors: tuple[Collector, ...],
        regions: tuple[str, ...],
        batch_size: int,
        max_workers: int,
        per_account: int,
    ) -> None:
        self.regional = tuple(c for c in collectors if not c.is_global)
        self.global_ = tuple(c for c in collectors if c.is_global)
        self.regions = regions
        self.batch_size = batch_size
        self.per_account = per_account
        self.stop = threading.Event()
        # A few items per worker keeps the pool busy while the consumer writes a batch.
        self.queue: queue.Queue[InventoryEvent] = queue.Queue(maxsize=max_workers * 2)
        # Threads start with the first submit, i.e. once the caller starts iterating.
        self.executor = ThreadPoolExecutor(max_workers, thread_name_prefix=THREAD_NAME_PREFIX)

    def events(self, targets: Sequence[AccountTarget]) -> Generator[InventoryEvent, None, None]:
        try:
            # Each account task ends with a ScanPlan (then that many job outcomes follow) or
            # with one account-level failed outcome.
            outstanding = 0
            for target in targets:
                self.executor.submit(self._plan_account, target)
                outstanding += 1
            while outstanding:
                event = self.queue.get()
                if isinstance(event, ScanPlan):
                    outstanding += event.jobs - 1
                elif isinstance(event, JobOutcome):
                    outstanding -= 1
                yield event
        finally:
            self.stop.set()
            self.executor.shutdown(wait=True, cancel_futures=True)

    def _put(self, event: InventoryEvent) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(event, timeout=_PUT_POLL_SECONDS)
            except queue.Full:
                continue
            return
        raise _Cancelled

    def _plan_account(self, target: AccountTarget) -> None:
        with calls.counting() as count:
            reached = reach_account(target, self.regions, regional=bool(self.regional))
        if isinstance(reached, JobOutcome):
            failed = replace(reached, requests=count.requests, throttled=count.throttled)
            self._put_quietly(failed)
            return
        clients = aws_session.ClientFactory(reached.session)
        only = frozenset(self.regions) if self.regions else None
        queues: list[_AccountJobs] = []
        for region in reached.regions:
            queue_ = _AccountJobs(self.per_account)
            queue_.waiting.extend(
                _Job(c, Scope(clients, target.account_id, region, reached.home), queue_)
                for c in self.regional
            )
            queues.append(queue_)
        global_jobs = _AccountJobs(self.per_account)
        global_jobs.waiting.extend(
            _Job(
                c, Scope(clients, target.account_id, GLOBAL_REGION, reached.home, only), global_jobs
            )
            for c in self.global_
        )
        queues.append(global_jobs)
        plan = ScanPlan(
            target.account_id,
            reached.regions,
            sum(len(q.waiting) for q in queues),
            requests=count.requests,
            throttled=count.throttled,
        )
        try:
            # The plan goes first, so the consumer knows how many outcomes to wait for.
            self._put(plan)
            for queue_ in queues:
                for _ in range(queue_.limit):
                    if (job := queue_.take()) is not None:
                        self.executor.submit(self._run_job, job)
        except (_Cancelled, RuntimeError):
            # RuntimeError: the pool was shut down because the consumer went away.
            return

    def _run_job(self, job: _Job) -> None:
        with calls.counting() as count:
            outcome = self._collect(job)
        if outcome is not None:
            self._put_quietly(replace(outcome, requests=count.requests, throttled=count.throttled))
        if self.stop.is_set():
            return
        if (following := job.account.take()) is not None:
            with contextlib.suppress(RuntimeError):  # the pool was shut down meanwhile
                self.executor.submit(self._run_job, following)

    def _collect(self, job: _Job) -> JobOutcome | None:
        """Run one job; its outcome, or ``None`` when the consumer went away."""
        scope, resource_type = job.scope, job.collector.resource_type
        started = time.monotonic()
        if scope.region != GLOBAL_REGION and not offered_in(job.collector.service, scope.region):
            # Nothing of a service AWS does not offer there: read, and found empty.
            return JobOutcome(
                scope.account_id,
                scope.region,
                resource_type,
                "ok",
                error_message=f"{job.collector.service} is not offered in {scope.region}",
            )
        seen: set[str] = set()
        batch: list[DiscoveredResource] = []
        try:
            for resource in job.collector.collect(scope):
                if self.stop.is_set():
                    return None
                # A resource listed twice (e.g. a page repeated on retry) is counted once.
                if resource.arn in seen:
                    continue
                seen.add(resource.arn)
                batch.append(resource)
                if len(batch) >= self.batch_size:
                    self._put(ResourceBatch(batch))
                    batch = []
            if batch:
                self._put(ResourceBatch(batch))
            return JobOutcome(
                scope.account_id,
                scope.region,
                resource_type,
                "ok",
                resource_count=len(seen),
                duration_ms=_elapsed_ms(started),
            )
        except _Cancelled:
            return None
        except Exception as error:
            code, message = _failure(error, f"{scope.account_id} {scope.region} {resource_type}")
            return JobOutcome(
                scope.account_id,
                scope.region,
                resource_type,
                "failed",
                error_code=code,
                error_message=message,
                duration_ms=_elapsed_ms(started),
            )

    def _put_quietly(self, event: InventoryEvent) -> None:
        with contextlib.suppress(_Cancelled):
            self._put(event)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
