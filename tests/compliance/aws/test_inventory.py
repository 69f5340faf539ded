"""The inventory runner: plans, exact counts per job, failures that stay local, several
accounts, batching, and clean shutdown."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from compliance.aws import COLLECTORS, collect_inventory
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
from compliance.aws.collectors.core import Collector, Scope
from compliance.aws.inventory import THREAD_NAME_PREFIX
from tests.compliance.aws.estate import ACCOUNT, aws, make_bucket, make_queue, make_table

REGIONS = ("ap-southeast-2", "eu-west-1", "us-east-1")
OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/FinopsReader"

#: A session hook: called before every API call with the operation model and call context.
Hook = Callable[..., None]


def unmetered(event: object) -> object:
    """``event`` without its request counts (which a test of them checks on its own)."""
    return dataclasses.replace(event, requests=0, throttled=0)  # type: ignore[type-var]


def run(targets: list[AccountTarget], **options: Any) -> list[InventoryEvent]:
    return list(collect_inventory(targets, **options))


def outcomes(events: list[InventoryEvent]) -> dict[tuple[str, str, str], tuple[str, int, str]]:
    """(account, region, type) -> (status, resource count, error code)."""
    return {
        (e.account_id, e.region, e.resource_type): (e.status, e.resource_count, e.error_code)
        for e in events
        if isinstance(e, JobOutcome)
    }


def resources(events: list[InventoryEvent]) -> list[DiscoveredResource]:
    return [r for e in events if isinstance(e, ResourceBatch) for r in e.resources]


def deny(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, operation)


@pytest.fixture
def hook_sessions(monkeypatch: pytest.MonkeyPatch) -> Callable[[Hook], None]:
    """Register a before-call hook on every session the runner creates."""
    hooks: list[Hook] = []
    original = aws_session.new_session

    def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
        session = original(target, **kwargs)
        for hook in hooks:
            session.events.register("before-call", hook)
        return session

    monkeypatch.setattr(aws_session, "new_session", new_session)
    return hooks.append


def client_in(account: str, service: str, region: str) -> Any:
    """A client with credentials of ``account``: moto files what it creates there."""
    credentials = aws("sts", "us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_counts_are_exact_per_region_and_type(aws: None) -> None:
    queues = {"us-east-1": 1, "eu-west-1": 2, "ap-southeast-2": 3}
    tables = {"us-east-1": 2, "eu-west-1": 0, "ap-southeast-2": 1}
    made = set()
    for region in REGIONS:
        made |= {make_queue(region, i, {}).arn for i in range(queues[region])}
        made |= {make_table(region, i, {}).arn for i in range(tables[region])}
        made.add(make_bucket(region, 0, {}).arn)
    events = run(
        [AccountTarget(ACCOUNT)],
        regions=REGIONS,
        types=["sqs:queue", "dynamodb:table", "s3:bucket"],
    )
    expected = {(ACCOUNT, r, "sqs:queue"): ("ok", queues[r], "") for r in REGIONS}
    expected |= {(ACCOUNT, r, "dynamodb:table"): ("ok", tables[r], "") for r in REGIONS}
    expected[(ACCOUNT, GLOBAL_REGION, "s3:bucket")] = ("ok", 3, "")
    assert outcomes(events) == expected
    assert sorted(r.arn for r in resources(events)) == sorted(made)


def test_the_plan_comes_first_and_counts_the_jobs(aws: None) -> None:
    events = run([AccountTarget(ACCOUNT)], regions=REGIONS, types=["sqs:queue", "s3:bucket"])
    assert unmetered(events[0]) == ScanPlan(ACCOUNT, REGIONS, jobs=4)
    assert sum(isinstance(e, JobOutcome) for e in events) == 4


def test_resources_arrive_in_batches_of_at_most_batch_size(aws: None) -> None:
    for i in range(5):
        make_queue("us-east-1", i, {})
    events = run([AccountTarget(ACCOUNT)], regions=["us-east-1"], types=["sqs:queue"], batch_size=2)
    sizes = sorted(len(e.resources) for e in events if isinstance(e, ResourceBatch))
    assert sizes == [1, 2, 2]


def test_an_access_denied_region_fails_alone(
    aws: None, hook_sessions: Callable[[Hook], None]
) -> None:
    def refuse_eu(model: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("client_region") == "eu-west-1":
            raise deny("AccessDenied", model.name)

    hook_sessions(refuse_eu)
    for region in REGIONS:
        make_queue(region, 0, {})
    events = run([AccountTarget(ACCOUNT)], regions=REGIONS, types=["sqs:queue"])
    assert outcomes(events) == {
        (ACCOUNT, "ap-southeast-2", "sqs:queue"): ("ok", 1, ""),
        (ACCOUNT, "eu-west-1", "sqs:queue"): ("failed", 0, "AccessDenied"),
        (ACCOUNT, "us-east-1", "sqs:queue"): ("ok", 1, ""),
    }
    assert {r.region for r in resources(events)} == {"ap-southeast-2", "us-east-1"}


def test_a_failed_job_says_what_went_wrong_in_a_short_message(
    aws: None, hook_sessions: Callable[[Hook], None]
) -> None:
    def refuse(model: Any, **_: Any) -> None:
        raise deny("UnauthorizedOperation", model.name)

    hook_sessions(refuse)
    events = run([AccountTarget(ACCOUNT)], regions=["us-east-1"], types=["ec2:vpc"])
    (outcome,) = [e for e in events if isinstance(e, JobOutcome)]
    assert (outcome.error_code, outcome.error_message) == (
        "UnauthorizedOperation",
        "UnauthorizedOperation (test)",
    )


def test_a_network_error_is_reported_by_its_class_name(
    aws: None, hook_sessions: Callable[[Hook], None]
) -> None:
    def unreachable(model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name == "sqs":
            raise EndpointConnectionError(endpoint_url="https://sqs.example.invalid")

    hook_sessions(unreachable)
    events = run([AccountTarget(ACCOUNT)], regions=["us-east-1"], types=["sqs:queue", "sns:topic"])
    assert outcomes(events) == {
        (ACCOUNT, "us-east-1", "sqs:queue"): ("failed", 0, "EndpointConnectionError"),
        (ACCOUNT, "us-east-1", "sns:topic"): ("ok", 0, ""),
    }


def test_a_collector_bug_is_an_internal_error_logged_with_its_traceback(
    aws: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(scope: Scope) -> Iterator[DiscoveredResource]:
        raise KeyError("QueueUrls")

    monkeypatch.setitem(
        COLLECTORS, "sqs:queue", Collector("sqs:queue", "sqs", ("sqs:ListQueues",), broken)
    )
    with caplog.at_level(logging.ERROR, logger="compliance.aws.inventory"):
        events = run([AccountTarget(ACCOUNT)], regions=["us-east-1"], types=["sqs:queue"])
    (outcome,) = [e for e in events if isinstance(e, JobOutcome)]
    assert (outcome.status, outcome.error_code) == ("failed", "InternalError")
    assert "QueueUrls" not in outcome.error_message
    assert any(record.exc_info for record in caplog.records)


def test_a_resource_listed_twice_is_counted_once(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = COLLECTORS["sqs:queue"]

    def twice(scope: Scope) -> Iterator[DiscoveredResource]:
        return itertools.chain(real.collect(scope), real.collect(scope))

    monkeypatch.setitem(COLLECTORS, "sqs:queue", Collector("sqs:queue", "sqs", (), twice))
    made = {make_queue("us-east-1", i, {}).arn for i in range(2)}
    events = run([AccountTarget(ACCOUNT)], regions=["us-east-1"], types=["sqs:queue"])
    assert outcomes(events)[(ACCOUNT, "us-east-1", "sqs:queue")] == ("ok", 2, "")
    assert sorted(r.arn for r in resources(events)) == sorted(made)


def test_each_account_sees_only_its_own_resources(aws: None) -> None:
    own = make_queue("us-east-1", 0, {})
    other_url = client_in(OTHER_ACCOUNT, "sqs", "us-east-1").create_queue(QueueName="other")[
        "QueueUrl"
    ]
    targets = [
        AccountTarget(ACCOUNT),
        AccountTarget(OTHER_ACCOUNT, role_arn=ROLE, external_id="ext-42"),
    ]
    events = run(targets, regions=["us-east-1"], types=["sqs:queue"])
    by_account = {(r.account_id, r.arn) for r in resources(events)}
    assert by_account == {
        (ACCOUNT, own.arn),
        (OTHER_ACCOUNT, f"arn:aws:sqs:us-east-1:{OTHER_ACCOUNT}:other"),
    }
    assert other_url.endswith(f"/{OTHER_ACCOUNT}/other")


def test_the_external_id_is_passed_to_assume_role(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    original = aws_session.new_session

    def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
        base = boto3.session.Session()
        base.events.register(
            "provide-client-params.sts.AssumeRole", lambda params, **_: sent.append(params)
        )
        return original(target, base=base)

    monkeypatch.setattr(aws_session, "new_session", new_session)
    target = AccountTarget(OTHER_ACCOUNT, role_arn=ROLE, external_id="ext-42")
    run([target], regions=["us-east-1"], types=["sqs:queue"])
    assert [(p["RoleArn"], p["ExternalId"]) for p in sent] == [(ROLE, "ext-42")]


def test_a_refused_role_fails_its_account_and_the_others_carry_on(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = aws_session.new_session

    def new_session(target: AccountTarget, **kwargs: Any) -> boto3.session.Session:
        base = boto3.session.Session()

        def refuse(model: Any, **_: Any) -> None:
            raise deny("AccessDenied", model.name)

        base.events.register("before-call.sts.AssumeRole", refuse)
        return original(target, base=base)

    monkeypatch.setattr(aws_session, "new_session", new_session)
    make_queue("us-east-1", 0, {})
    targets = [AccountTarget(OTHER_ACCOUNT, role_arn=ROLE), AccountTarget(ACCOUNT)]
    events = run(targets, regions=["us-east-1"], types=["sqs:queue"])
    assert outcomes(events) == {
        (OTHER_ACCOUNT, "*", "*"): ("failed", 0, "AccessDenied"),
        (ACCOUNT, "us-east-1", "sqs:queue"): ("ok", 1, ""),
    }
    assert [e.account_id for e in events if isinstance(e, ScanPlan)] == [ACCOUNT]


def test_credentials_of_another_account_are_never_used_to_scan(aws: None) -> None:
    make_queue("us-east-1", 0, {})
    events = run([AccountTarget("999999999999")], regions=["us-east-1"], types=["sqs:queue"])
    assert outcomes(events) == {("999999999999", "*", "*"): ("failed", 0, "AccountMismatch")}
    assert resources(events) == []


def test_unknown_types_are_refused_before_any_aws_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_aws(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("AWS was called")

    monkeypatch.setattr(aws_session, "new_session", no_aws)
    with pytest.raises(
        ValueError, match=r"unknown resource type 'ec2:unicorn'; .*dynamodb:table, "
    ):
        collect_inventory([AccountTarget(ACCOUNT)], types=["ec2:instance", "ec2:unicorn"])


def test_explicit_regions_override_the_accounts_own(aws: None) -> None:
    target = AccountTarget(ACCOUNT, regions=("us-east-1", "eu-west-1"))
    events = run([target], regions=["ap-southeast-2"], types=["sqs:queue"])
    assert unmetered(events[0]) == ScanPlan(ACCOUNT, ("ap-southeast-2",), jobs=1)


def test_the_accounts_own_regions_are_used_when_none_are_given(aws: None) -> None:
    target = AccountTarget(ACCOUNT, regions=("us-east-1", "eu-west-1"))
    events = run([target], types=["sqs:queue"])
    assert unmetered(events[0]) == ScanPlan(ACCOUNT, ("eu-west-1", "us-east-1"), jobs=2)


def test_enabled_regions_are_used_when_the_account_names_none(aws: None) -> None:
    enabled = aws_session.enabled_regions(boto3.session.Session())
    events = run([AccountTarget(ACCOUNT)], types=["sqs:queue"], max_workers=8)
    assert unmetered(events[0]) == ScanPlan(ACCOUNT, enabled, jobs=len(enabled))


def test_global_types_alone_need_no_region_list(
    aws: None, hook_sessions: Callable[[Hook], None]
) -> None:
    calls: list[str] = []
    hook_sessions(lambda model, **_: calls.append(model.name))
    events = run([AccountTarget(ACCOUNT)], types=["s3:bucket"])
    assert unmetered(events[0]) == ScanPlan(ACCOUNT, (), jobs=1)
    assert "DescribeRegions" not in calls


def test_explicit_regions_also_filter_buckets(aws: None) -> None:
    kept = make_bucket("eu-west-1", 0, {})
    make_bucket("us-east-1", 0, {})
    events = run([AccountTarget(ACCOUNT)], regions=["eu-west-1"], types=["s3:bucket"])
    assert [r.arn for r in resources(events)] == [kept.arn]
    assert outcomes(events) == {(ACCOUNT, GLOBAL_REGION, "s3:bucket"): ("ok", 1, "")}


def test_closing_early_stops_every_worker(aws: None) -> None:
    for region in REGIONS:
        for i in range(3):
            make_queue(region, i, {})
    events = collect_inventory(
        [AccountTarget(ACCOUNT)], regions=REGIONS, max_workers=4, batch_size=1
    )
    next(events)
    next(events)
    events.close()
    alive = [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]
    assert alive == []
