"""The types of this group moto cannot create (Redshift Serverless workgroups, ElastiCache
serverless caches, DocumentDB clusters), against botocore's Stubber, which checks every request
and answer against the service's model; and, in moto, that DocumentDB and Neptune clusters are
their own types, not RDS ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.core import Scope
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, aws, make_db_cluster, make_db_instance, tag_list
from tests.compliance.aws.types.data import make_neptune_cluster

REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Name": "tagged-one"}


@dataclass(frozen=True)
class Case:
    """How one type's list call looks on the wire."""

    service: str
    operation: str
    result_key: str
    size_key: str
    token_in: str
    token_out: str
    #: (name, status) -> one listed item, as AWS answers it.
    item: Callable[[str, str], dict[str, Any]]
    arn: Callable[[str], str]
    living: str
    gone: str
    #: Parameters every list request carries (DocumentDB's engine filter).
    params: dict[str, Any]


def _workgroup_arn(name: str) -> str:
    # Workgroup ARNs end with the workgroup's id, not its name.
    return f"arn:aws:redshift-serverless:{REGION}:{ACCOUNT}:workgroup/0000-{name}"


def _workgroup(name: str, status: str) -> dict[str, Any]:
    return {
        "workgroupId": f"0000-{name}",
        "workgroupArn": _workgroup_arn(name),
        "workgroupName": name,
        "namespaceName": "finops",
        "status": status,
        "baseCapacity": 8,
    }


def _serverless_cache_arn(name: str) -> str:
    return f"arn:aws:elasticache:{REGION}:{ACCOUNT}:serverlesscache:{name}"


def _serverless_cache(name: str, status: str) -> dict[str, Any]:
    return {
        "ServerlessCacheName": name,
        "Status": status,
        "Engine": "valkey",
        "MajorEngineVersion": "8",
        "FullEngineVersion": "8.0",
        "ARN": _serverless_cache_arn(name),
    }


def _docdb_arn(name: str) -> str:
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{name}"


def _docdb_cluster(name: str, status: str) -> dict[str, Any]:
    return {
        "DBClusterIdentifier": name,
        "DBClusterArn": _docdb_arn(name),
        "Engine": "docdb",
        "EngineVersion": "5.0.0",
        "Status": status,
    }


CASES: dict[str, Case] = {
    "redshift-serverless:workgroup": Case(
        "redshift-serverless",
        "list_workgroups",
        "workgroups",
        "maxResults",
        "nextToken",
        "nextToken",
        _workgroup,
        _workgroup_arn,
        "AVAILABLE",
        "DELETING",
        {},
    ),
    "elasticache:serverlesscache": Case(
        "elasticache",
        "describe_serverless_caches",
        "ServerlessCaches",
        "MaxResults",
        "NextToken",
        "NextToken",
        _serverless_cache,
        _serverless_cache_arn,
        "available",
        "deleting",
        {},
    ),
    "docdb:cluster": Case(
        "docdb",
        "describe_db_clusters",
        "DBClusters",
        "MaxRecords",
        "Marker",
        "Marker",
        _docdb_cluster,
        _docdb_arn,
        "available",
        "deleting",
        {"Filters": [{"Name": "engine", "Values": ["docdb"]}]},
    ),
}


class Stubbed:
    """The two clients one collector run uses, stubbed, and every call made through them."""

    def __init__(self, case: Case) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.calls: Counter[str] = Counter()
        self.service = session.client(case.service)
        self.tagging = session.client("resourcegroupstaggingapi")
        self.stubbers = [Stubber(self.service), Stubber(self.tagging)]
        for client in (self.service, self.tagging):
            # Not "before-call": the Stubber answers that event itself, ahead of any counter.
            client.meta.events.register("before-parameter-build", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name
        self.calls[f"{'tag' if prefix == 'tagging' else prefix}:{model.name}"] += 1

    def clients(self, service: str, region: str) -> Any:
        assert region == REGION
        return self.tagging if service == "resourcegroupstaggingapi" else self.service

    def pages(self, case: Case, pages: list[list[dict[str, Any]]], size: int | None) -> None:
        """Answer the list call with ``pages``, checking the page size and token asked for."""
        for number, page in enumerate(pages):
            expected: dict[str, Any] = dict(case.params)
            if size:
                expected[case.size_key] = size
            if number:
                expected[case.token_in] = f"page-{number}"
            answer: dict[str, Any] = {case.result_key: page}
            if number + 1 < len(pages):
                answer[case.token_out] = f"page-{number + 1}"
            self.stubbers[0].add_response(case.operation, answer, expected)

    def tags(self, asked: list[str], tagging: dict[str, dict[str, str]]) -> None:
        """Answer one GetResources call naming ``asked`` with ``tagging`` (ARN -> tags)."""
        mappings = [{"ResourceARN": arn, "Tags": tag_list(tags)} for arn, tags in tagging.items()]
        self.stubbers[1].add_response(
            "get_resources",
            {"ResourceTagMappingList": mappings},
            {"ResourceARNList": sorted(asked)},
        )

    def collect(self, resource_type: str) -> dict[str, DiscoveredResource]:
        for stubber in self.stubbers:
            stubber.activate()
        scope = Scope(self.clients, ACCOUNT, REGION, REGION)
        found = list(COLLECTORS[resource_type].collect(scope))
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()
        resources = {resource.arn: resource for resource in found}
        assert len(resources) == len(found), "a resource was listed twice"
        return resources


@pytest.fixture
def stubbed() -> Iterator[Callable[[Case], Stubbed]]:
    made: list[Stubbed] = []

    def make(case: Case) -> Stubbed:
        made.append(Stubbed(case))
        return made[-1]

    yield make
    for run in made:
        for stubber in run.stubbers:
            stubber.deactivate()


TYPES = sorted(CASES)


@pytest.mark.parametrize("resource_type", TYPES)
def test_these_types_are_the_stubbed_ones(resource_type: str) -> None:
    from tests.compliance.aws.types import data

    assert set(CASES) == data.STUBBED
    assert COLLECTORS[resource_type].service == CASES[resource_type].service


@pytest.mark.parametrize("resource_type", TYPES)
def test_a_never_tagged_resource_is_found(
    resource_type: str, stubbed: Callable[[Case], Stubbed]
) -> None:
    case = CASES[resource_type]
    run = stubbed(case)
    run.pages(case, [[case.item("finops-0", case.living)]], None)
    run.tags([case.arn("finops-0")], {})
    found = run.collect(resource_type)[case.arn("finops-0")]
    assert (found.resource_type, found.account_id, found.region, found.name, found.tags) == (
        resource_type,
        ACCOUNT,
        REGION,
        "finops-0",
        {},
    )
    assert found.attributes["state"] == case.living
    assert all(isinstance(v, str) and v for v in found.attributes.values())


@pytest.mark.parametrize("resource_type", TYPES)
def test_tags_are_joined_from_the_tagging_api(
    resource_type: str, stubbed: Callable[[Case], Stubbed]
) -> None:
    case = CASES[resource_type]
    run = stubbed(case)
    run.pages(
        case, [[case.item("finops-0", case.living), case.item("finops-1", case.living)]], None
    )
    # An answer naming a resource that was not asked about changes nothing.
    run.tags(
        [case.arn("finops-0"), case.arn("finops-1")],
        {case.arn("finops-0"): TAGS, case.arn("elsewhere"): {"Owner": "nobody"}},
    )
    found = run.collect(resource_type)
    assert {arn: resource.tags for arn, resource in found.items()} == {
        case.arn("finops-0"): TAGS,
        case.arn("finops-1"): {},
    }


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_page_is_read(
    resource_type: str,
    stubbed: Callable[[Case], Stubbed],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 2)
    case = CASES[resource_type]
    names = [f"finops-{i}" for i in range(5)]
    run = stubbed(case)
    run.pages(
        case, [[case.item(name, case.living) for name in names[i : i + 2]] for i in (0, 2, 4)], 2
    )
    run.tags([case.arn(name) for name in names], {})
    assert set(run.collect(resource_type)) == {case.arn(name) for name in names}
    assert run.calls[COLLECTORS[resource_type].list_call] == 3


@pytest.mark.parametrize("resource_type", TYPES)
def test_a_resource_being_deleted_is_left_out(
    resource_type: str, stubbed: Callable[[Case], Stubbed]
) -> None:
    case = CASES[resource_type]
    run = stubbed(case)
    run.pages(case, [[case.item("finops-0", case.living), case.item("finops-1", case.gone)]], None)
    # Its tags are not even asked for.
    run.tags([case.arn("finops-0")], {})
    assert set(run.collect(resource_type)) == {case.arn("finops-0")}


@pytest.mark.parametrize("resource_type", TYPES)
def test_declared_iam_actions_are_exactly_the_calls_made(
    resource_type: str, stubbed: Callable[[Case], Stubbed]
) -> None:
    case = CASES[resource_type]
    run = stubbed(case)
    run.pages(
        case, [[case.item("finops-0", case.living), case.item("finops-1", case.living)]], None
    )
    run.tags([case.arn("finops-0"), case.arn("finops-1")], {case.arn("finops-0"): TAGS})
    run.collect(resource_type)
    assert set(run.calls) == set(COLLECTORS[resource_type].iam_actions)


def test_docdb_leaves_out_clusters_of_other_engines(stubbed: Callable[[Case], Stubbed]) -> None:
    """The engine filter is AWS's; a cluster of another engine in the answer is still skipped."""
    case = CASES["docdb:cluster"]
    run = stubbed(case)
    other = {**case.item("finops-aurora", "available"), "Engine": "aurora-postgresql"}
    run.pages(case, [[case.item("finops-0", case.living), other]], None)
    run.tags([case.arn("finops-0")], {})
    assert set(run.collect("docdb:cluster")) == {case.arn("finops-0")}


def test_neptune_clusters_are_not_rds_ones_but_their_instances_are(collect: Collect) -> None:
    """moto: a Neptune cluster is listed as ``neptune:cluster`` only, an Aurora one as
    ``rds:cluster`` only; a Neptune instance is an ``rds:db``, as tag policies name it."""
    neptune = make_neptune_cluster(REGION, 0, {})
    aurora = make_db_cluster(REGION, 0, {})
    postgres = make_db_instance(REGION, 0, {})
    instance = aws("neptune", REGION).create_db_instance(
        DBInstanceIdentifier="finops-neptune-db-0",
        DBInstanceClass="db.r5.large",
        Engine="neptune",
        DBClusterIdentifier=neptune.name,
    )["DBInstance"]

    assert set(collect("neptune:cluster", REGION).resources) == {neptune.arn}
    assert set(collect("rds:cluster", REGION).resources) == {aurora.arn}
    assert set(collect("rds:db", REGION).resources) == {postgres.arn, instance["DBInstanceArn"]}
