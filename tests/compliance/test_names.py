"""Typed names checked before anything runs or is stored: resource types, regions (scan,
account) and a policy's ``applies_to``; a typo answered with the closest names."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command

from compliance.aws import RESOURCE_TYPES, known_regions
from compliance.core import names
from compliance.models import AuditEvent, AwsAccount, Scan, TaggingPolicy
from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError

pytestmark = pytest.mark.django_db


def test_a_typo_is_answered_with_the_closest_names() -> None:
    assert names.closest("ec2:instanse", RESOURCE_TYPES)[0] == "ec2:instance"
    message = names.unknown_name("resource type", "ec2:instanse", RESOURCE_TYPES)
    assert message.startswith("unknown resource type 'ec2:instanse'; did you mean 'ec2:instance'")


def test_every_unknown_name_is_named() -> None:
    message = names.unknown_names("region", ["eu-west-1", "us-east-9", "mars-1"], known_regions())
    assert message is not None
    assert message.startswith("unknown region 'mars-1'; ")
    assert message.endswith("; also unknown: 'us-east-9'")
    assert names.unknown_names("region", ["eu-west-1"], known_regions()) is None


def test_nothing_close_lists_every_name() -> None:
    message = names.unknown_name("region", "zz", ["eu-west-1", "us-east-1"])
    assert message == "unknown region 'zz'; known: eu-west-1, us-east-1"


def test_the_known_regions_are_every_partitions() -> None:
    assert {"us-east-1", "eu-central-2", "cn-north-1", "us-gov-west-1"} <= known_regions()
    assert "us-east-9" not in known_regions()


def scan_command(*args: str) -> None:
    call_command("scan", *args)


def test_a_scan_of_a_region_that_does_not_exist_is_refused_before_it_starts() -> None:
    AwsAccount.objects.create(account_id="123456789012", name="prod")
    with pytest.raises(
        CommandError, match=r"unknown region 'us-east-9'; did you mean .*'us-east-1'"
    ):
        scan_command("--regions", "us-east-9")
    assert not Scan.objects.exists()


def test_a_scan_of_a_misspelt_type_is_refused_before_it_starts() -> None:
    AwsAccount.objects.create(account_id="123456789012", name="prod")
    with pytest.raises(CommandError, match=r"did you mean 'ec2:instance'"):
        scan_command("--types", "ec2:instanse")
    assert not Scan.objects.exists()


def test_an_account_with_a_region_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ActionError, match=r"unknown region 'eu-west-7'"):
        do_add_account(
            account_id="123456789012", name="prod", regions=["eu-west-7"], acting=Operator()
        )
    assert not AwsAccount.objects.exists()


POLICY = """
version: "1"
required_tags:
  - name: Owner
  - name: CostCenter
    applies_to: [{types}]
"""


def test_a_policy_naming_a_misspelt_type_is_refused_audited_and_changes_nothing() -> None:
    do_import_policy(POLICY.format(types="ec2:instance"), acting=Operator())
    with pytest.raises(ActionError, match=r"'CostCenter'.*did you mean 'ec2:instance'"):
        do_import_policy(POLICY.format(types="ec2:instanse"), acting=Operator())
    assert TaggingPolicy.objects.get(is_active=True).version == 1
    refused = AuditEvent.objects.filter(event_type="policy.rejected").get()
    assert "ec2:instanse" in refused.detail["error"]


def test_a_policy_may_name_every_type_of_a_known_service() -> None:
    do_import_policy(POLICY.format(types="ec2:*, rds:db"), acting=Operator())
    with pytest.raises(ActionError, match=r"unknown resource type 'ecc:\*'"):
        do_import_policy(POLICY.format(types="ecc:*"), acting=Operator())


def test_an_aws_organizations_policy_may_name_types_aws_knows_and_scans_do_not() -> None:
    document = (
        '{"tags": {"owner": {"tag_key": {"@@assign": "Owner"}, '
        '"enforced_for": {"@@assign": ["ec2:dhcp-options", "ec2:instance"]}}}}'
    )
    imported = do_import_policy(document, acting=Operator())
    assert imported.document["required_tags"][0]["applies_to"] == [
        "ec2:dhcp-options",
        "ec2:instance",
    ]


def test_a_misspelt_default_scan_type_fails_the_system_check(settings: Any) -> None:
    from compliance.checks import scan_default_types

    settings.SCAN_DEFAULT_TYPES = ["ec2:instance"]
    assert scan_default_types() == []
    settings.SCAN_DEFAULT_TYPES = ["ec2:instance", "s3:buckt"]
    (error,) = scan_default_types()
    assert error.id == "compliance.E001"
    assert "unknown resource type 's3:buckt'; did you mean 's3:bucket'?" in error.msg
