"""Tags from the Resource Groups Tagging API, joined by ARN; requests and throttling counted;
at most a few jobs of one account at once."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.aws import calls, collect_inventory
from compliance.aws.base import (
    GLOBAL_REGION,
    AccountTarget,
    DiscoveredResource,
    JobOutcome,
    ResourceBatch,
)
from compliance.aws.collectors import COLLECTORS
from compliance.aws.collectors.core import (
    TAGGING_API_BATCH,
    Collector,
    Scope,
    TagSource,
    with_tagging_api_tags,
)
from compliance.aws.session import client_config, new_session
from tests.compliance.aws.estate import ACCOUNT, make_queue

REGION = "eu-west-1"


def discovered(n: int, region: str = REGION) -> DiscoveredResource:
    return DiscoveredResource(
        arn=f"arn:aws:sqs:{region}:{ACCOUNT}:queue-{n}",
        resource_type="sqs:queue",
        account_id=ACCOUNT,
        region=region,
        name=f"queue-{n}",
        tags={},
    )


class StubbedClients:
    """One stubbed tagging client per region; records the ARNs each call asked for."""

    def __init__(self) -> None:
        self.stubbers: dict[str, Stubber] = {}
        self.clients: dict[str, Any] = {}

    def expect(self, region: str, answers: list[dict[str, list[str] | dict[str, str]]]) -> None:
        client = boto3.client("resourcegroupstaggingapi", region_name=region)
        stubber = Stubber(client)
        for answer in answers:
            asked = answer["asked"]
            assert isinstance(asked, list)
            tags = answer["tags"]
            assert isinstance(tags, dict)
            mappings = [
                {"ResourceARN": arn, "Tags": [{"Key": "Team", "Value": team}]}
                for arn, team in tags.items()
            ]
            stubber.add_response(
                "get_resources",
                {"ResourceTagMappingList": mappings},
                {"ResourceARNList": sorted(asked)},
            )
        stubber.activate()
        self.stubbers[region], self.clients[region] = stubber, client

    def __call__(self, service: str, region: str) -> Any:
        assert service == "resourcegroupstaggingapi"
        return self.clients[region]


def scope_of(clients: StubbedClients, region: str = REGION) -> Scope:
    return Scope(clients, ACCOUNT, region, region)


def test_tags_are_joined_by_arn_a_hundred_at_a_time() -> None:
    found = [discovered(n) for n in range(250)]
    arns = [r.arn for r in found]
    clients = StubbedClients()
    clients.expect(
        REGION,
        [
            {"asked": arns[:100], "tags": {arns[0]: "a", arns[99]: "b"}},
            {"asked": arns[100:200], "tags": {}},
            # An answer naming a resource not asked for changes nothing.
            {"asked": arns[200:], "tags": {arns[249]: "c", "arn:aws:sqs:x:1:other": "d"}},
        ],
    )
    joined = list(with_tagging_api_tags(scope_of(clients), found))
    clients.stubbers[REGION].assert_no_pending_responses()
    assert TAGGING_API_BATCH == 100
    assert [r.arn for r in joined] == arns
    tagged = {r.arn: r.tags for r in joined if r.tags}
    assert tagged == {arns[0]: {"Team": "a"}, arns[99]: {"Team": "b"}, arns[249]: {"Team": "c"}}


def test_each_region_and_global_resources_are_asked_where_they_live() -> None:
    here, there = discovered(1), discovered(2, "ap-southeast-2")
    cdn = DiscoveredResource(
        "arn:aws:cloudfront::123456789012:distribution/E1",
        "cloudfront:distribution",
        ACCOUNT,
        GLOBAL_REGION,
        "E1",
        {},
    )
    clients = StubbedClients()
    clients.expect(REGION, [{"asked": [here.arn], "tags": {here.arn: "h"}}])
    clients.expect("ap-southeast-2", [{"asked": [there.arn], "tags": {}}])
    clients.expect("us-east-1", [{"asked": [cdn.arn], "tags": {cdn.arn: "cdn"}}])
    joined = {r.arn: r.tags for r in with_tagging_api_tags(scope_of(clients), [here, there, cdn])}
    assert joined == {here.arn: {"Team": "h"}, there.arn: {}, cdn.arn: {"Team": "cdn"}}
    for stubber in clients.stubbers.values():
        stubber.assert_no_pending_responses()


def test_nothing_discovered_costs_no_tagging_call() -> None:
    clients = StubbedClients()
    clients.expect(REGION, [])
    assert list(with_tagging_api_tags(scope_of(clients), [])) == []


def test_a_scan_job_counts_its_requests(aws: None) -> None:
    for n in range(3):
        make_queue(REGION, n, {"Team": "t"} if n else {})
    events = list(
        collect_inventory([AccountTarget(ACCOUNT, regions=(REGION,))], types=["sqs:queue"])
    )
    (outcome,) = [e for e in events if isinstance(e, JobOutcome)]
    # One ListQueues page, one GetResources for the three queues.
    assert (outcome.resource_count, outcome.requests, outcome.throttled) == (3, 2, 0)


class _Throttling(http.server.BaseHTTPRequestHandler):
    """STS that throttles the first two requests, then answers GetCallerIdentity."""

    answered = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).answered += 1
        if type(self).answered <= 2:
            status, body = (
                400,
                (
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                    "<Message>Rate exceeded</Message></Error><RequestId>1</RequestId>"
                    "</ErrorResponse>"
                ),
            )
        else:
            status, body = (
                200,
                (
                    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/u</Arn>"
                    "<UserId>U</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
                    "<ResponseMetadata><RequestId>2</RequestId></ResponseMetadata>"
                    "</GetCallerIdentityResponse>"
                ),
            )
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def throttling_sts() -> Iterator[str]:
    _Throttling.answered = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_throttled_answers_are_counted_and_retried(throttling_sts: str) -> None:
    session = new_session(AccountTarget(ACCOUNT))
    sts = session.client(
        "sts", region_name="us-east-1", endpoint_url=throttling_sts, config=client_config()
    )
    with calls.counting() as count:
        assert sts.get_caller_identity()["Account"] == ACCOUNT
    assert (count.requests, count.throttled) == (3, 2)


def test_at_most_the_per_account_limit_of_jobs_run_at_once_in_a_region(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def slow(scope: Scope) -> Iterator[DiscoveredResource]:
        with lock:
            running[scope.region] = running.get(scope.region, 0) + 1
            running["all"] = running.get("all", 0) + 1
            for key in (scope.region, "all"):
                most[key] = max(most.get(key, 0), running[key])
        time.sleep(0.2)
        with lock:
            running[scope.region] -= 1
            running["all"] -= 1
        return iter(())

    types = ["sqs:queue", "sns:topic", "logs:log-group", "lambda:function"]
    for name in types:
        monkeypatch.setitem(
            COLLECTORS, name, Collector(name, name.split(":")[0], (), slow, tags=TagSource.LISTED)
        )
    regions = ("eu-west-1", "us-east-1")
    events = list(
        collect_inventory(
            [AccountTarget(ACCOUNT, regions=regions)], types=types, max_workers=8, per_account=2
        )
    )
    finished = [e for e in events if isinstance(e, JobOutcome)]
    assert len(finished) == len(types) * len(regions)
    assert all(e.status == "ok" for e in finished)
    # Two at a time in each region, so four at a time in the account.
    assert most == {"eu-west-1": 2, "us-east-1": 2, "all": 4}


def test_an_answer_paged_by_the_endpoint_is_read_to_its_end(aws: None) -> None:
    # moto pages a GetResources answer after 50 resources or 100 tags, ARN list or not.
    tags = {"Owner": "ann@example.com", "CostCenter": "CC-1", "Environment": "production"}
    made = {make_queue(REGION, n, tags).arn for n in range(120)}
    events = list(
        collect_inventory([AccountTarget(ACCOUNT, regions=(REGION,))], types=["sqs:queue"])
    )
    found = {r.arn: r.tags for e in events if isinstance(e, ResourceBatch) for r in e.resources}
    assert set(found) == made
    assert all(t == tags for t in found.values())


def test_a_service_aws_does_not_offer_in_a_region_is_not_asked_there(aws: None) -> None:
    # MemoryDB is not offered in af-south-1 (botocore's endpoint data), but is in eu-west-1.
    events = list(
        collect_inventory(
            [AccountTarget(ACCOUNT, regions=("af-south-1", "eu-west-1"))],
            types=["memorydb:cluster"],
        )
    )
    outcomes = {e.region: e for e in events if isinstance(e, JobOutcome)}
    skipped, asked = outcomes["af-south-1"], outcomes["eu-west-1"]
    assert (skipped.status, skipped.resource_count, skipped.requests) == ("ok", 0, 0)
    assert skipped.error_message == "memorydb is not offered in af-south-1"
    assert (asked.status, asked.requests) == ("ok", 1)
