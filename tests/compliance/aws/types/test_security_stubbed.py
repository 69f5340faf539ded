"""This group's cases the generic tests cannot show.

Against botocore's Stubber (which checks every request and answer against the service's model):
composite and log alarms, which moto cannot create; KMS keys, whose AWS-managed keys moto does
not list; ACM's list call asking for every key algorithm. In moto: what each type leaves out
(secrets scheduled for deletion, keys pending deletion, deleted backup plans, service-linked
roles), and the global types filed under the global region with their tags.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from compliance.aws.base import GLOBAL_REGION, DiscoveredResource
from compliance.aws.collectors import COLLECTORS, core
from compliance.aws.collectors.acm import key_types
from compliance.aws.collectors.core import Scope
from tests.compliance.aws.conftest import Collect
from tests.compliance.aws.estate import ACCOUNT, aws
from tests.compliance.aws.types.security import (
    GLOBAL_API_REGION,
    make_backup_plan,
    make_distribution,
    make_hosted_zone,
    make_key,
    make_role,
    make_secret,
    make_user,
)

REGION = "eu-west-1"
TAGS = {"CostCenter": "cc-42", "Name": "tagged-one"}

#: The IAM prefix of each client's calls, where its signing name differs.
_IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag"}


class Stubbed:
    """Stubbed clients of one region, and every call made through them in IAM spelling."""

    def __init__(self, *services: str) -> None:
        session = boto3.session.Session(region_name=REGION)
        self.calls: Counter[str] = Counter()
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}
        for service in (*services, "resourcegroupstaggingapi"):
            client = session.client(service, region_name=REGION)
            # The Stubber answers at before-call, ahead of any other handler of that event;
            # before-parameter-build still sees every call.
            client.meta.events.register("before-parameter-build", self._record)
            self.clients[service] = client
            self.stubbers[service] = Stubber(client)

    def _record(self, model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name
        self.calls[f"{_IAM_PREFIX.get(prefix, prefix)}:{model.name}"] += 1

    def scope(self) -> Scope:
        def clients(service: str, region: str) -> Any:
            assert region == REGION
            return self.clients[service]

        return Scope(clients, ACCOUNT, REGION, REGION)

    def add(self, service: str, operation: str, answer: dict[str, Any], **params: Any) -> None:
        self.stubbers[service].add_response(operation, answer, params or None)

    def tagged(self, asked: list[str], tagging: dict[str, dict[str, str]]) -> None:
        """GetResources asked for ``asked`` (sorted, as the collector asks), answering
        ``tagging``."""
        answer = {
            "ResourceTagMappingList": [
                {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                for arn, tags in tagging.items()
            ]
        }
        self.add("resourcegroupstaggingapi", "get_resources", answer, ResourceARNList=asked)

    def collect(self, resource_type: str) -> dict[str, DiscoveredResource]:
        for stubber in self.stubbers.values():
            stubber.activate()
        found: Iterator[DiscoveredResource] = COLLECTORS[resource_type].collect(self.scope())
        resources = {resource.arn: resource for resource in found}
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
        return resources


def _alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"


def _composite_alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": _alarm_arn(name),
        "AlarmRule": 'ALARM("cpu-high") OR ALARM("disk-full")',
        "StateValue": "OK",
        "ActionsEnabled": True,
    }


def _log_alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": _alarm_arn(name),
        "StateValue": "INSUFFICIENT_DATA",
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }


def _metric_alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": _alarm_arn(name),
        "StateValue": "ALARM",
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
    }


_ALARM_TYPES = ["MetricAlarm", "CompositeAlarm", "LogAlarm"]


def test_alarms_of_every_type_are_found_on_every_page_with_their_tags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 1)
    aws_ = Stubbed("cloudwatch")
    aws_.add(
        "cloudwatch",
        "describe_alarms",
        {"CompositeAlarms": [_composite_alarm("service-down")], "NextToken": "page-2"},
        AlarmTypes=_ALARM_TYPES,
        MaxRecords=1,
    )
    aws_.add(
        "cloudwatch",
        "describe_alarms",
        {"LogAlarms": [_log_alarm("errors-logged")], "NextToken": "page-3"},
        AlarmTypes=_ALARM_TYPES,
        MaxRecords=1,
        NextToken="page-2",
    )
    aws_.add(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": [_metric_alarm("cpu-high")], "CompositeAlarms": []},
        AlarmTypes=_ALARM_TYPES,
        MaxRecords=1,
        NextToken="page-3",
    )
    arns = sorted(_alarm_arn(n) for n in ("service-down", "errors-logged", "cpu-high"))
    aws_.tagged(arns, {_alarm_arn("service-down"): TAGS})

    found = aws_.collect("cloudwatch:alarm")

    seen = {arn: (r.name, r.region, r.tags, r.attributes["alarm_type"]) for arn, r in found.items()}
    assert seen == {
        _alarm_arn("service-down"): ("service-down", REGION, TAGS, "CompositeAlarm"),
        _alarm_arn("errors-logged"): ("errors-logged", REGION, {}, "LogAlarm"),
        _alarm_arn("cpu-high"): ("cpu-high", REGION, {}, "MetricAlarm"),
    }
    assert aws_.calls == {"cloudwatch:DescribeAlarms": 3, "tag:GetResources": 1}
    assert set(aws_.calls) == set(COLLECTORS["cloudwatch:alarm"].iam_actions)


def test_a_never_tagged_composite_alarm_is_found() -> None:
    aws_ = Stubbed("cloudwatch")
    aws_.add(
        "cloudwatch",
        "describe_alarms",
        {"CompositeAlarms": [_composite_alarm("service-down")]},
        AlarmTypes=_ALARM_TYPES,
        MaxRecords=100,
    )
    aws_.tagged([_alarm_arn("service-down")], {})
    found = aws_.collect("cloudwatch:alarm")
    assert found[_alarm_arn("service-down")].tags == {}


def _key_arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def _key_metadata(key_id: str, manager: str, state: str) -> dict[str, Any]:
    return {
        "KeyMetadata": {
            "AWSAccountId": ACCOUNT,
            "KeyId": key_id,
            "Arn": _key_arn(key_id),
            "KeyState": state,
            "KeyManager": manager,
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "Origin": "AWS_KMS",
            "MultiRegion": False,
        }
    }


def test_only_living_customer_managed_keys_are_found_without_describing_aws_aliased_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 2)
    aws_ = Stubbed("kms")
    aws_.add(
        "kms",
        "list_aliases",
        {
            "Aliases": [
                {"AliasName": "alias/aws/ebs", "TargetKeyId": "aws-ebs"},
                {"AliasName": "alias/finops", "TargetKeyId": "customer"},
            ],
            "Truncated": True,
            "NextMarker": "aliases-2",
        },
        Limit=2,
    )
    aws_.add(
        "kms",
        "list_aliases",
        # An alias of AWS's with no key yet, as accounts have for services never used.
        {"Aliases": [{"AliasName": "alias/aws/rds"}], "Truncated": False},
        Limit=2,
        Marker="aliases-2",
    )
    keys = ["aws-ebs", "customer", "aws-unaliased", "doomed"]
    # Keys are described as their page is read; none is for the key behind alias/aws/ebs.
    aws_.add(
        "kms",
        "list_keys",
        {
            "Keys": [{"KeyId": k, "KeyArn": _key_arn(k)} for k in keys[:2]],
            "Truncated": True,
            "NextMarker": "keys-2",
        },
        Limit=2,
    )
    aws_.add(
        "kms", "describe_key", _key_metadata("customer", "CUSTOMER", "Enabled"), KeyId="customer"
    )
    aws_.add(
        "kms",
        "list_keys",
        {"Keys": [{"KeyId": k, "KeyArn": _key_arn(k)} for k in keys[2:]], "Truncated": False},
        Limit=2,
        Marker="keys-2",
    )
    aws_.add(
        "kms",
        "describe_key",
        _key_metadata("aws-unaliased", "AWS", "Enabled"),
        KeyId="aws-unaliased",
    )
    aws_.add(
        "kms",
        "describe_key",
        _key_metadata("doomed", "CUSTOMER", "PendingDeletion"),
        KeyId="doomed",
    )
    aws_.tagged([_key_arn("customer")], {_key_arn("customer"): TAGS})

    found = aws_.collect("kms:key")

    assert list(found) == [_key_arn("customer")]
    key = found[_key_arn("customer")]
    assert (key.name, key.tags, key.attributes["aliases"], key.attributes["state"]) == (
        "customer",
        TAGS,
        "finops",
        "Enabled",
    )
    assert aws_.calls == {
        "kms:ListAliases": 2,
        "kms:ListKeys": 2,
        "kms:DescribeKey": 3,
        "tag:GetResources": 1,
    }
    assert set(aws_.calls) == set(COLLECTORS["kms:key"].iam_actions)


def test_a_key_deleted_after_it_was_listed_is_left_out() -> None:
    aws_ = Stubbed("kms")
    aws_.add("kms", "list_aliases", {"Aliases": [], "Truncated": False}, Limit=100)
    aws_.add(
        "kms",
        "list_keys",
        {"Keys": [{"KeyId": "gone", "KeyArn": _key_arn("gone")}], "Truncated": False},
        Limit=1000,
    )
    aws_.stubbers["kms"].add_client_error(
        "describe_key", "NotFoundException", expected_params={"KeyId": "gone"}
    )
    assert aws_.collect("kms:key") == {}


def _certificate_arn(name: str) -> str:
    return f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{name}"


def test_certificates_of_every_key_algorithm_are_asked_for_on_every_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(core, "PAGE_SIZE", 1)
    aws_ = Stubbed("acm")
    algorithms = key_types(aws_.clients["acm"])
    # Without them ListCertificates returns only RSA 1024/2048-bit certificates.
    assert {"RSA_2048", "EC_prime256v1", "RSA_4096"} <= set(algorithms)
    includes = {"keyTypes": algorithms}
    aws_.add(
        "acm",
        "list_certificates",
        {
            "CertificateSummaryList": [
                {
                    "CertificateArn": _certificate_arn("ecdsa"),
                    "DomainName": "ecdsa.example.com",
                    "KeyAlgorithm": "EC_prime256v1",
                    "Status": "ISSUED",
                }
            ],
            "NextToken": "page-2",
        },
        Includes=includes,
        MaxItems=1,
    )
    aws_.add(
        "acm",
        "list_certificates",
        {
            "CertificateSummaryList": [
                {
                    "CertificateArn": _certificate_arn("expired"),
                    "DomainName": "old.example.com",
                    "Status": "EXPIRED",
                }
            ]
        },
        Includes=includes,
        MaxItems=1,
        NextToken="page-2",
    )
    arns = sorted(_certificate_arn(n) for n in ("ecdsa", "expired"))
    aws_.tagged(arns, {_certificate_arn("ecdsa"): TAGS})

    found = aws_.collect("acm:certificate")

    assert {arn: (r.name, r.tags) for arn, r in found.items()} == {
        _certificate_arn("ecdsa"): ("ecdsa.example.com", TAGS),
        _certificate_arn("expired"): ("old.example.com", {}),
    }
    assert set(aws_.calls) == set(COLLECTORS["acm:certificate"].iam_actions)


# In moto: what each type leaves out.


def test_a_secret_scheduled_for_deletion_is_left_out(collect: Collect) -> None:
    kept = make_secret(REGION, 0, {})
    doomed = make_secret(REGION, 1, {})
    aws("secretsmanager", REGION).delete_secret(SecretId=doomed.arn, RecoveryWindowInDays=7)
    assert set(collect("secretsmanager:secret", REGION).resources) == {kept.arn}


def test_a_key_pending_deletion_is_left_out(collect: Collect) -> None:
    kept = make_key(REGION, 0, {})
    doomed = make_key(REGION, 1, {})
    aws("kms", REGION).schedule_key_deletion(KeyId=doomed.name, PendingWindowInDays=7)
    assert set(collect("kms:key", REGION).resources) == {kept.arn}


def test_a_deleted_backup_plan_is_left_out(collect: Collect) -> None:
    kept = make_backup_plan(REGION, 0, {})
    doomed = make_backup_plan(REGION, 1, {})
    aws("backup", REGION).delete_backup_plan(BackupPlanId=doomed.arn.rsplit(":", 1)[-1])
    assert set(collect("backup:backup-plan", REGION, tagging={}).resources) == {kept.arn}


def test_service_linked_roles_are_left_out(collect: Collect) -> None:
    kept = make_role(REGION, 0, {})
    linked = aws("iam", GLOBAL_API_REGION).create_service_linked_role(
        AWSServiceName="autoscaling.amazonaws.com"
    )["Role"]
    assert linked["Path"].startswith("/aws-service-role/")
    assert set(collect("iam:role", REGION).resources) == {kept.arn}


# In moto: the global types, filed under the global region with their tags. (The generic tests
# expect every resource in the region they scan.)


@pytest.mark.parametrize(
    ("resource_type", "factory"),
    [
        ("route53:hostedzone", make_hosted_zone),
        ("cloudfront:distribution", make_distribution),
        ("iam:role", make_role),
        ("iam:user", make_user),
    ],
)
def test_global_resources_are_filed_under_the_global_region_with_their_tags(
    resource_type: str, factory: Any, collect: Collect
) -> None:
    tagged = factory(REGION, 0, TAGS)
    untagged = factory(REGION, 1, {})
    found = collect(resource_type, REGION, tagging={tagged.arn: TAGS}).resources
    assert {arn: (r.region, r.name, r.tags) for arn, r in found.items()} == {
        tagged.arn: (GLOBAL_REGION, tagged.name, TAGS),
        untagged.arn: (GLOBAL_REGION, untagged.name, {}),
    }
