"""Test cases of the resource types of this group (see tests/compliance/aws/types/__init__.py):
SageMaker, API Gateway, Step Functions, EventBridge, Firehose and Cognito."""

from __future__ import annotations

import json

from tests.compliance.aws.estate import ACCOUNT, Factory, Made, aws, default_subnets, tag_list

#: Neither moto nor these tests assume any role: a well-formed ARN is enough.
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/finops-apps"


def _tags_kw(key: str, tags: dict[str, str], value: object) -> dict[str, object]:
    """``{key: value}``, or nothing at all for an untagged resource."""
    return {key: value} if tags else {}


def make_sagemaker_endpoint(region: str, i: int, tags: dict[str, str]) -> Made:
    sagemaker = aws("sagemaker", region)
    model = f"finops-model-{i}"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/model:latest"},
    )
    config = f"finops-endpoint-config-{i}"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
            }
        ],
    )
    name = f"finops-endpoint-{i}"
    arn = sagemaker.create_endpoint(
        EndpointName=name, EndpointConfigName=config, **_tags_kw("Tags", tags, tag_list(tags))
    )["EndpointArn"]
    return Made(arn, name)


def make_notebook_instance(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-notebook-{i}"
    arn = aws("sagemaker", region).create_notebook_instance(
        NotebookInstanceName=name,
        InstanceType="ml.t3.medium",
        RoleArn=ROLE_ARN,
        **_tags_kw("Tags", tags, tag_list(tags)),
    )["NotebookInstanceArn"]
    return Made(arn, name)


def make_sagemaker_domain(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-domain-{i}"
    subnets = default_subnets(region)
    vpc_id = aws("ec2", region).describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    arn = aws("sagemaker", region).create_domain(
        DomainName=name,
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": ROLE_ARN},
        SubnetIds=subnets[:1],
        VpcId=vpc_id,
        **_tags_kw("Tags", tags, tag_list(tags)),
    )["DomainArn"]
    return Made(arn, name)


def make_rest_api(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-rest-api-{i}"
    api_id = aws("apigateway", region).create_rest_api(name=name, **_tags_kw("tags", tags, tags))[
        "id"
    ]
    # CreateRestApi returns no ARN: this is the form AWS documents for REST APIs.
    return Made(f"arn:aws:apigateway:{region}::/restapis/{api_id}", name)


def make_http_api(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-http-api-{i}"
    api_id = aws("apigatewayv2", region).create_api(
        Name=name, ProtocolType="HTTP", **_tags_kw("Tags", tags, tags)
    )["ApiId"]
    # CreateApi returns no ARN: this is the form AWS documents for HTTP and WebSocket APIs.
    return Made(f"arn:aws:apigateway:{region}::/apis/{api_id}", name)


_PASS_STATE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def make_state_machine(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-state-machine-{i}"
    arn = aws("stepfunctions", region).create_state_machine(
        name=name,
        definition=_PASS_STATE,
        roleArn=ROLE_ARN,
        **_tags_kw("tags", tags, [{"key": k, "value": v} for k, v in tags.items()]),
    )["stateMachineArn"]
    return Made(arn, name)


def make_event_bus(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-bus-{i}"
    arn = aws("events", region).create_event_bus(
        Name=name, **_tags_kw("Tags", tags, tag_list(tags))
    )["EventBusArn"]
    return Made(arn, name)


_PATTERN = json.dumps({"source": ["finops.test"]})


def make_rule(region: str, i: int, tags: dict[str, str], bus: str | None = None) -> Made:
    """A rule on the default bus, or on ``bus`` (created if need be)."""
    events = aws("events", region)
    where: dict[str, str] = {}
    if bus is not None:
        if not events.list_event_buses(NamePrefix=bus)["EventBuses"]:
            events.create_event_bus(Name=bus)
        where = {"EventBusName": bus}
    name = f"finops-rule-{i}"
    arn = events.put_rule(
        Name=name, EventPattern=_PATTERN, **where, **_tags_kw("Tags", tags, tag_list(tags))
    )["RuleArn"]
    return Made(arn, name)


def make_delivery_stream(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-firehose-{i}"
    arn = aws("firehose", region).create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE_ARN,
            "BucketARN": "arn:aws:s3:::finops-firehose-destination",
        },
        **_tags_kw("Tags", tags, tag_list(tags)),
    )["DeliveryStreamARN"]
    return Made(arn, name)


def make_user_pool(region: str, i: int, tags: dict[str, str]) -> Made:
    name = f"finops-users-{i}"
    pool = aws("cognito-idp", region).create_user_pool(
        PoolName=name, **_tags_kw("UserPoolTags", tags, tags)
    )["UserPool"]
    return Made(pool["Arn"], name)


FACTORIES: dict[str, Factory] = {
    "sagemaker:endpoint": make_sagemaker_endpoint,
    "sagemaker:notebook-instance": make_notebook_instance,
    "sagemaker:domain": make_sagemaker_domain,
    "apigateway:restapis": make_rest_api,
    "apigateway:apis": make_http_api,
    "states:stateMachine": make_state_machine,
    "events:event-bus": make_event_bus,
    "events:rule": make_rule,
    "firehose:deliverystream": make_delivery_stream,
    "cognito-idp:userpool": make_user_pool,
}

#: Per type: the list call (as the call counter names it: API Gateway's signing name is
#: ``apigateway`` for the v2 API too), the page size to force, and whether moto honours it.
PAGING: dict[str, tuple[str, int | None, bool]] = {
    "sagemaker:endpoint": ("sagemaker:ListEndpoints", 2, True),
    "sagemaker:notebook-instance": ("sagemaker:ListNotebookInstances", 2, True),
    "sagemaker:domain": ("sagemaker:ListDomains", 2, True),
    # moto answers GetRestApis and GetApis with every API at once, whatever the page size.
    "apigateway:restapis": ("apigateway:GetRestApis", 2, False),
    "apigateway:apis": ("apigateway:GetApis", 2, False),
    "states:stateMachine": ("states:ListStateMachines", 2, True),
    "events:event-bus": ("events:ListEventBuses", 2, True),
    "events:rule": ("events:ListRules", 2, True),
    # ListDeliveryStreams pages by hand (ExclusiveStartDeliveryStreamName), which moto honours.
    "firehose:deliverystream": ("firehose:ListDeliveryStreams", 2, True),
    "cognito-idp:userpool": ("cognito-idp:ListUserPools", 2, True),
}

#: moto's tagging API knows neither EventBridge rules (only buses) nor Cognito user pools.
TAGS_FROM_STUB: frozenset[str] = frozenset({"events:rule", "cognito-idp:userpool"})
STUBBED: frozenset[str] = frozenset()
