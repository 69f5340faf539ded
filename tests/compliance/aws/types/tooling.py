"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py):
data pipelines (Glue, Athena), build and deploy tooling (CodeBuild, CodePipeline, Elastic
Beanstalk), containers (Batch, ECS task definitions) and file transfer (Transfer Family)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from botocore.exceptions import ClientError

from tests.compliance.aws.estate import ACCOUNT, Factory, Made, aws, ecs_tags, tag_list


def service_role(name: str, service: str) -> str:
    """An IAM role the given service may assume (moto checks the trust of some services)."""
    iam = aws("iam", "us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError:
        role = iam.get_role(RoleName=name)
    return str(role["Role"]["Arn"])


def lower_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """``[{"key": k, "value": v}]``: the spelling of CodeBuild and CodePipeline."""
    return ecs_tags(tags)


def make_glue_job(region: str, i: int, tags: dict[str, str]) -> Made:
    name = aws("glue", region).create_job(
        Name=f"finops-job-{i}",
        Role=service_role("finops-glue", "glue"),
        Command={"Name": "glueetl", "ScriptLocation": "s3://finops-scripts/job.py"},
        **({"Tags": tags} if tags else {}),
    )["Name"]
    # Glue returns no ARNs; this is the documented form.
    return Made(f"arn:aws:glue:{region}:{ACCOUNT}:job/{name}", name)


def make_glue_crawler(region: str, i: int, tags: dict[str, str]) -> Made:
    glue = aws("glue", region)
    glue.create_crawler(
        Name=f"finops-crawler-{i}",
        Role=service_role("finops-glue", "glue"),
        Targets={"S3Targets": [{"Path": "s3://finops-data/raw/"}]},
        **({"Tags": tags} if tags else {}),
    )
    name = glue.get_crawler(Name=f"finops-crawler-{i}")["Crawler"]["Name"]
    return Made(f"arn:aws:glue:{region}:{ACCOUNT}:crawler/{name}", name)


def make_glue_database(region: str, i: int, tags: dict[str, str]) -> Made:
    glue = aws("glue", region)
    glue.create_database(
        DatabaseInput={"Name": f"finops_db_{i}"}, **({"Tags": tags} if tags else {})
    )
    name = glue.get_database(Name=f"finops_db_{i}")["Database"]["Name"]
    return Made(f"arn:aws:glue:{region}:{ACCOUNT}:database/{name}", name)


def make_build_project(region: str, i: int, tags: dict[str, str]) -> Made:
    project = aws("codebuild", region).create_project(
        name=f"finops-build-{i}",
        source={"type": "S3", "location": "finops-sources/app.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=service_role("finops-codebuild", "codebuild"),
        **({"tags": lower_tags(tags)} if tags else {}),
    )["project"]
    return Made(project["arn"], project["name"])


def _stage(
    name: str, category: str, provider: str, configuration: dict[str, str]
) -> dict[str, Any]:
    """One pipeline stage of one AWS action, passing the ``source`` artifact along."""
    artifacts = (
        {"outputArtifacts": [{"name": "source"}]}
        if category == "Source"
        else {"inputArtifacts": [{"name": "source"}]}
    )
    return {
        "name": name,
        "actions": [
            {
                "name": name,
                "actionTypeId": {
                    "category": category,
                    "owner": "AWS",
                    "provider": provider,
                    "version": "1",
                },
                "configuration": configuration,
                **artifacts,
            }
        ],
    }


def make_pipeline(region: str, i: int, tags: dict[str, str]) -> Made:
    codepipeline = aws("codepipeline", region)
    name = f"finops-pipeline-{i}"
    codepipeline.create_pipeline(
        pipeline={
            "name": name,
            "roleArn": service_role("finops-codepipeline", "codepipeline"),
            "artifactStore": {"type": "S3", "location": "finops-artifacts"},
            "stages": [
                _stage(
                    "Source",
                    "Source",
                    "S3",
                    {"S3Bucket": "finops-sources", "S3ObjectKey": "app.zip"},
                ),
                _stage("Build", "Build", "CodeBuild", {"ProjectName": "finops-build"}),
            ],
        },
        **({"tags": lower_tags(tags)} if tags else {}),
    )
    metadata = codepipeline.get_pipeline(name=name)["metadata"]
    return Made(metadata["pipelineArn"], name)


def make_compute_environment(region: str, i: int, tags: dict[str, str]) -> Made:
    environment = aws("batch", region).create_compute_environment(
        computeEnvironmentName=f"finops-compute-{i}",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=service_role("finops-batch", "batch"),
        **({"tags": tags} if tags else {}),
    )
    return Made(environment["computeEnvironmentArn"], environment["computeEnvironmentName"])


def make_beanstalk_environment(region: str, i: int, tags: dict[str, str]) -> Made:
    beanstalk = aws("elasticbeanstalk", region)
    # Made by the first environment of a test; later ones find it there.
    with contextlib.suppress(ClientError):
        beanstalk.create_application(ApplicationName="finops-app")
    environment = beanstalk.create_environment(
        ApplicationName="finops-app",
        EnvironmentName=f"finops-env-{i}",
        SolutionStackName="64bit Amazon Linux 2023 v4.0.0 running Python 3.11",
        **({"Tags": tag_list(tags)} if tags else {}),
    )
    return Made(environment["EnvironmentArn"], environment["EnvironmentName"])


def make_transfer_server(region: str, i: int, tags: dict[str, str]) -> Made:
    transfer = aws("transfer", region)
    server_id = transfer.create_server(
        Protocols=["SFTP"],
        IdentityProviderType="SERVICE_MANAGED",
        **({"Tags": tag_list(tags)} if tags else {}),
    )["ServerId"]
    server = transfer.describe_server(ServerId=server_id)["Server"]
    return Made(server["Arn"], server["ServerId"])


def make_task_definition(region: str, i: int, tags: dict[str, str]) -> Made:
    definition = aws("ecs", region).register_task_definition(
        family=f"finops-task-{i}",
        containerDefinitions=[{"name": "app", "image": "nginx:latest", "memory": 128}],
        **({"tags": ecs_tags(tags)} if tags else {}),
    )["taskDefinition"]
    return Made(definition["taskDefinitionArn"], f"{definition['family']}:{definition['revision']}")


FACTORIES: dict[str, Factory] = {
    "glue:job": make_glue_job,
    "glue:crawler": make_glue_crawler,
    "glue:database": make_glue_database,
    "codebuild:project": make_build_project,
    "codepipeline:pipeline": make_pipeline,
    "batch:compute-environment": make_compute_environment,
    "elasticbeanstalk:environment": make_beanstalk_environment,
    "transfer:server": make_transfer_server,
    "ecs:task-definition": make_task_definition,
}

PAGING: dict[str, tuple[str, int | None, bool]] = {
    "glue:job": ("glue:ListJobs", 2, True),
    # moto returns every crawler and database in one page, whatever the page size.
    "glue:crawler": ("glue:GetCrawlers", 2, False),
    "glue:database": ("glue:GetDatabases", 2, False),
    # ListProjects takes no page size (AWS pages it by 100); the forced size still splits the
    # BatchGetProjects calls (see test_tooling_stubbed.py).
    "codebuild:project": ("codebuild:ListProjects", 2, False),
    "codepipeline:pipeline": ("codepipeline:ListPipelines", 2, False),
    "batch:compute-environment": ("batch:DescribeComputeEnvironments", 2, False),
    "elasticbeanstalk:environment": ("elasticbeanstalk:DescribeEnvironments", 2, False),
    "transfer:server": ("transfer:ListServers", 2, False),
    "ecs:task-definition": ("ecs:ListTaskDefinitions", 2, False),
}

#: moto's CodePipeline and Transfer backends take no part in its tagging API.
TAGS_FROM_STUB: frozenset[str] = frozenset(
    {"codebuild:project", "codepipeline:pipeline", "transfer:server"}
)

#: botocore now speaks Athena's REST protocol, which moto 5.2.5 does not serve ("Not yet
#: implemented"): Athena is tested against botocore's Stubber in test_tooling_stubbed.py.
STUBBED: frozenset[str] = frozenset({"athena:workgroup"})
