"""Group H4 against botocore's Stubber: Athena workgroups, which moto cannot serve (botocore
speaks Athena's REST protocol, moto only its JSON one), and what moto cannot show of the
others: deleting states, batch and page splits, and the tagging API call counted (the generic
test's counter does not see calls the Stubber answers)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.aws.base import DiscoveredResource
from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.core import Scope

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Name": "tagged-one"}

#: The few operations whose IAM action has another name.
IAM_ACTION_OF = {"tagging:GetResources": "tag:GetResources"}


class Stubbed:
    """Clients answered by botocore's Stubber, and every call they were asked, by IAM action."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.calls: Counter[str] = Counter()
        # before-parameter-build runs for every call, answered by the Stubber or not.
        self.session.events.register("before-parameter-build", self._record)
        self._clients: dict[tuple[str, str], Any] = {}
        self._stubbers: dict[tuple[str, str], Stubber] = {}

    def _record(self, model: Any, **_: Any) -> None:
        call = f"{model.service_model.signing_name}:{model.name}"
        self.calls[IAM_ACTION_OF.get(call, call)] += 1

    def stub(self, service: str, region: str = REGION) -> Stubber:
        if (service, region) not in self._stubbers:
            client = self.session.client(service, region_name=region)
            stubber = Stubber(client)
            stubber.activate()
            self._clients[service, region] = client
            self._stubbers[service, region] = stubber
        return self._stubbers[service, region]

    def __call__(self, service: str, region: str) -> Any:
        # A client no test stubbed is a call the test did not expect: KeyError.
        return self._clients[service, region]

    def tagging(self, tagging: dict[str, dict[str, str]], asked: list[str]) -> None:
        """GetResources asked for exactly ``asked``, answering ``tagging`` (ARN -> tags)."""
        self.stub("resourcegroupstaggingapi").add_response(
            "get_resources",
            {
                "ResourceTagMappingList": [
                    {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                    for arn, tags in tagging.items()
                ]
            },
            {"ResourceARNList": sorted(asked)},
        )

    def collect(self, resource_type: str) -> dict[str, DiscoveredResource]:
        scope = Scope(self, ACCOUNT, REGION, REGION)
        found = list(COLLECTORS[resource_type].collect(scope))
        for stubber in self._stubbers.values():
            stubber.assert_no_pending_responses()
        resources = {resource.arn: resource for resource in found}
        assert len(resources) == len(found), "a resource was listed twice"
        return resources

    def assert_calls_are_the_iam_actions(self, resource_type: str) -> None:
        assert set(self.calls) == set(COLLECTORS[resource_type].iam_actions)


@pytest.fixture
def aws() -> Stubbed:
    return Stubbed()


def work_group_arn(name: str) -> str:
    return f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{name}"


def work_group(name: str, state: str = "ENABLED") -> dict[str, Any]:
    return {
        "Name": name,
        "State": state,
        "Description": "",
        "EngineVersion": {"EffectiveEngineVersion": "Athena engine version 3"},
    }


# Athena workgroups


def test_a_never_tagged_work_group_is_found(aws: Stubbed) -> None:
    aws.stub("athena").add_response("list_work_groups", {"WorkGroups": [work_group("primary")]})
    aws.tagging({}, [work_group_arn("primary")])
    found = aws.collect("athena:workgroup")[work_group_arn("primary")]
    assert (found.resource_type, found.account_id, found.region, found.name, found.tags) == (
        "athena:workgroup",
        ACCOUNT,
        REGION,
        "primary",
        {},
    )
    assert found.attributes == {"state": "ENABLED", "engine_version": "Athena engine version 3"}


def test_work_group_tags_come_from_the_tagging_api(aws: Stubbed) -> None:
    aws.stub("athena").add_response(
        "list_work_groups", {"WorkGroups": [work_group("primary"), work_group("etl")]}
    )
    arns = [work_group_arn("primary"), work_group_arn("etl")]
    aws.tagging({work_group_arn("etl"): TAGS}, arns)
    found = aws.collect("athena:workgroup")
    assert {arn: found[arn].tags for arn in arns} == {arns[0]: {}, arns[1]: TAGS}
    aws.assert_calls_are_the_iam_actions("athena:workgroup")


def test_every_page_of_work_groups_is_read(aws: Stubbed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 1)
    athena = aws.stub("athena")
    athena.add_response(
        "list_work_groups",
        {"WorkGroups": [work_group("primary")], "NextToken": "page-2"},
        {"MaxResults": 1},
    )
    athena.add_response(
        "list_work_groups",
        {"WorkGroups": [work_group("etl")], "NextToken": "page-3"},
        {"MaxResults": 1, "NextToken": "page-2"},
    )
    athena.add_response(
        "list_work_groups",
        {"WorkGroups": [work_group("adhoc")]},
        {"MaxResults": 1, "NextToken": "page-3"},
    )
    names = ["primary", "etl", "adhoc"]
    aws.tagging({}, [work_group_arn(name) for name in names])
    found = aws.collect("athena:workgroup")
    assert set(found) == {work_group_arn(name) for name in names}
    assert aws.calls["athena:ListWorkGroups"] == 3


def test_a_disabled_work_group_is_kept(aws: Stubbed) -> None:
    # Workgroups have no deleting state (ENABLED or DISABLED only): a deleted one is not
    # listed, and a disabled one still exists, with its tags.
    aws.stub("athena").add_response(
        "list_work_groups", {"WorkGroups": [work_group("old", state="DISABLED")]}
    )
    aws.tagging({}, [work_group_arn("old")])
    assert aws.collect("athena:workgroup")[work_group_arn("old")].attributes["state"] == "DISABLED"


def test_work_group_iam_actions_are_the_calls_made(aws: Stubbed) -> None:
    aws.stub("athena").add_response("list_work_groups", {"WorkGroups": [work_group("primary")]})
    aws.tagging({}, [work_group_arn("primary")])
    aws.collect("athena:workgroup")
    aws.assert_calls_are_the_iam_actions("athena:workgroup")


# What moto cannot show of the other types


def test_deleting_compute_environments_are_left_out(aws: Stubbed) -> None:
    def environment(name: str, status: str) -> dict[str, Any]:
        return {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/{name}",
            "status": status,
            "state": "ENABLED",
            "type": "MANAGED",
            "tags": {"CostCenter": "cc-42"},
        }

    aws.stub("batch").add_response(
        "describe_compute_environments",
        {
            "computeEnvironments": [
                environment("live", "VALID"),
                environment("going", "DELETING"),
                environment("gone", "DELETED"),
            ]
        },
    )
    found = aws.collect("batch:compute-environment")
    assert [resource.name for resource in found.values()] == ["live"]
    assert next(iter(found.values())).tags == {"CostCenter": "cc-42"}


def test_terminated_beanstalk_environments_are_left_out(aws: Stubbed) -> None:
    def environment(name: str, status: str) -> dict[str, Any]:
        return {
            "EnvironmentName": name,
            "EnvironmentId": f"e-{name}",
            "ApplicationName": "app",
            "EnvironmentArn": f"arn:aws:elasticbeanstalk:{REGION}:{ACCOUNT}:environment/app/{name}",
            "Status": status,
        }

    aws.stub("elasticbeanstalk").add_response(
        "describe_environments",
        {
            "Environments": [
                environment("live", "Ready"),
                environment("going", "Terminating"),
                environment("gone", "Terminated"),
            ]
        },
        {"IncludeDeleted": False},
    )
    live = f"arn:aws:elasticbeanstalk:{REGION}:{ACCOUNT}:environment/app/live"
    aws.tagging({live: TAGS}, [live])
    found = aws.collect("elasticbeanstalk:environment")
    assert list(found) == [live]
    assert found[live].tags == TAGS
    aws.assert_calls_are_the_iam_actions("elasticbeanstalk:environment")


def test_deleted_ecs_clusters_are_left_out(aws: Stubbed) -> None:
    arns = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}" for name in ("live", "gone", "going")]
    ecs = aws.stub("ecs")
    ecs.add_response("list_clusters", {"clusterArns": arns})
    ecs.add_response(
        "describe_clusters",
        {
            "clusters": [
                {"clusterArn": arns[0], "clusterName": "live", "status": "ACTIVE"},
                {"clusterArn": arns[1], "clusterName": "gone", "status": "INACTIVE"},
                {"clusterArn": arns[2], "clusterName": "going", "status": "DEPROVISIONING"},
            ]
        },
        {"clusters": arns, "include": ["TAGS"]},
    )
    assert list(aws.collect("ecs:cluster")) == [arns[0]]


def test_ecs_services_of_a_vanished_cluster_are_skipped(aws: Stubbed) -> None:
    clusters = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}" for name in ("gone", "live")]
    service = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/live/web"
    ecs = aws.stub("ecs")
    ecs.add_response("list_clusters", {"clusterArns": clusters})
    ecs.add_client_error("list_services", "ClusterNotFoundException")
    ecs.add_response("list_services", {"serviceArns": [service]}, {"cluster": clusters[1]})
    aws.tagging({service: TAGS}, [service])
    found = aws.collect("ecs:service")
    assert (found[service].name, found[service].tags) == ("web", TAGS)
    assert found[service].attributes == {"parent_arn": clusters[1]}
    aws.assert_calls_are_the_iam_actions("ecs:service")


def test_only_active_task_definitions_are_asked_for(aws: Stubbed) -> None:
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:7"
    aws.stub("ecs").add_response(
        "list_task_definitions", {"taskDefinitionArns": [arn]}, {"status": "ACTIVE"}
    )
    aws.tagging({}, [arn])
    found = aws.collect("ecs:task-definition")[arn]
    assert (found.name, found.attributes) == ("web:7", {"family": "web", "revision": "7"})


def test_build_projects_are_listed_by_name_and_tagged_in_bulk(aws: Stubbed) -> None:
    names = ["app-a", "app-b", "app-c"]
    arns = [f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/{name}" for name in names]
    codebuild = aws.stub("codebuild")
    codebuild.add_response(
        "list_projects", {"projects": ["app-a", "app-b"], "nextToken": "page-2"}, {}
    )
    codebuild.add_response("list_projects", {"projects": ["app-c"]}, {"nextToken": "page-2"})
    aws.tagging({arns[0]: {"CostCenter": "cc-1"}}, arns)
    found = aws.collect("codebuild:project")
    assert {resource.name: resource.tags for resource in found.values()} == {
        "app-a": {"CostCenter": "cc-1"},
        "app-b": {},
        "app-c": {},
    }
    aws.assert_calls_are_the_iam_actions("codebuild:project")


def test_foreign_glue_databases_are_left_out(aws: Stubbed) -> None:
    own = f"arn:aws:glue:{REGION}:{ACCOUNT}:database/sales"
    aws.stub("glue").add_response(
        "get_databases",
        {
            "DatabaseList": [
                {"Name": "sales", "CatalogId": ACCOUNT},
                {"Name": "shared", "CatalogId": "210987654321"},
            ]
        },
    )
    aws.tagging({own: TAGS}, [own])
    found = aws.collect("glue:database")
    assert list(found) == [own]
    assert found[own].tags == TAGS


@pytest.mark.parametrize(
    ("resource_type", "service", "operation", "answer", "arn"),
    [
        (
            "codepipeline:pipeline",
            "codepipeline",
            "list_pipelines",
            {"pipelines": [{"name": "deploy", "pipelineType": "V2"}]},
            f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:deploy",
        ),
        (
            "transfer:server",
            "transfer",
            "list_servers",
            {
                "Servers": [
                    {
                        "Arn": f"arn:aws:transfer:{REGION}:{ACCOUNT}:server/s-0123456789abcdef0",
                        "ServerId": "s-0123456789abcdef0",
                        "State": "ONLINE",
                    }
                ]
            },
            f"arn:aws:transfer:{REGION}:{ACCOUNT}:server/s-0123456789abcdef0",
        ),
    ],
)
def test_tagging_api_types_moto_does_not_tag_read_their_tags_with_declared_actions(
    aws: Stubbed,
    resource_type: str,
    service: str,
    operation: str,
    answer: dict[str, Any],
    arn: str,
) -> None:
    aws.stub(service).add_response(operation, answer)
    aws.tagging({arn: TAGS}, [arn])
    assert aws.collect(resource_type)[arn].tags == TAGS
    aws.assert_calls_are_the_iam_actions(resource_type)
