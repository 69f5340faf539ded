"""Fixtures for the AWS layer: moto in-process, and a way to run one collector and watch it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from compliance.aws.base import GLOBAL_REGION, AccountTarget, DiscoveredResource
from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.core import Scope
from compliance.aws.session import ClientFactory, new_session
from tests.compliance.aws.estate import ACCOUNT, forget_clients
from tests.conftest import forget_leaked_ec2


@pytest.fixture
def lean_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto without its default AMIs: they come with ~1,300 snapshots owned by the default
    account in every region, which would drown ``ec2:snapshot`` and slow every EC2 test down.

    (Fake credentials, and no AWS profile or endpoint of the developer's, come from
    tests/conftest.py for every test.)
    """
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def aws(lean_moto: None) -> Iterator[None]:
    forget_clients()
    with mock_aws():
        yield
    forget_clients()
    forget_leaked_ec2()


@pytest.fixture
def page_size(monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], None]:
    """Force the page size of every list call, as a deployment never does."""

    def force(size: int | None) -> None:
        monkeypatch.setattr(core, "PAGE_SIZE", size)

    return force


def count_calls(session: boto3.session.Session) -> Counter[str]:
    """Every API call the session's clients make, as ``signing-name:Operation``."""
    calls: Counter[str] = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.signing_name}:{model.name}"] += 1

    # Emitted for every call, also those botocore's Stubber answers (it answers "before-call"
    # ahead of the handlers registered there, which then never see the call).
    session.events.register("before-parameter-build", record)
    return calls


@dataclass
class Collected:
    resources: dict[str, DiscoveredResource]
    calls: Counter[str]


Collect = Callable[..., Collected]


def stub_tagging_api(
    clients: ClientFactory, regions: Iterable[str], tagging: dict[str, dict[str, str]]
) -> None:
    """Answer GetResources in ``regions`` with ``tagging`` (ARN -> tags), as AWS would: for
    types whose moto backend does not take part in moto's tagging API. One answer per region
    (tests create far fewer than 100 resources of such a type)."""
    answer = {
        "ResourceTagMappingList": [
            {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            for arn, tags in tagging.items()
        ]
    }
    for region in regions:
        client = clients("resourcegroupstaggingapi", region)
        stubber = Stubber(client)
        stubber.add_response("get_resources", answer)
        stubber.activate()


@pytest.fixture
def collect(aws: None) -> Collect:
    """Run one collector the way a scan job does, and return what it found, by ARN.

    ``tagging``: the tags the test created resources with, by ARN; GetResources answers with
    them (through botocore's Stubber) for the types moto's own tagging API does not know.
    """

    def run(
        resource_type: str,
        region: str = "us-east-1",
        only_regions: frozenset[str] | None = None,
        tagging: dict[str, dict[str, str]] | None = None,
    ) -> Collected:
        from tests.compliance.aws.types import TAGS_FROM_STUB

        session = new_session(AccountTarget(ACCOUNT))
        calls = count_calls(session)
        collector = COLLECTORS[resource_type]
        scanned = GLOBAL_REGION if collector.is_global else region
        clients = ClientFactory(session)
        if resource_type in TAGS_FROM_STUB:
            stub_tagging_api(clients, {region, "us-east-1"}, tagging or {})
        scope = Scope(clients, ACCOUNT, scanned, region, only_regions)
        found = list(collector.collect(scope))
        resources = {resource.arn: resource for resource in found}
        assert len(resources) == len(found), "a resource was listed twice"
        return Collected(resources, calls)

    return run
