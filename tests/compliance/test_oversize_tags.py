"""Tags longer than AWS allows (a key over 128 characters, a value over 256) are cut to fit.

AWS never sends them, but an emulator or another source may; PostgreSQL refused the violation's
value and the tag change with a ``DataError`` that failed the whole scan. Stored cut, ending in
"…", on both databases.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from compliance import scans
from compliance.models import Resource, Scan, Violation
from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from compliance.writes.scans import do_request_scan
from tests.compliance.policies import TEST_POLICY

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"
REGION = "us-east-1"
LONG_KEY = "K" * 200
LONG_VALUE = "v" * 300


@pytest.fixture
def long_tagged_table(mocked_aws: None) -> str:
    operator = Operator()
    do_add_account(account_id=ACCOUNT, name="prod", regions=[REGION], acting=operator)
    do_import_policy(TEST_POLICY, acting=operator)
    created = boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="long-tagged",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[
            {"Key": "Environment", "Value": LONG_VALUE},
            {"Key": LONG_KEY, "Value": "x"},
        ],
    )
    return str(created["TableDescription"]["TableArn"])


def test_a_scan_of_oversize_tags_completes_with_them_cut(long_tagged_table: Any) -> None:
    scan = scans.execute_scan(
        do_request_scan(acting=Operator(), resource_types=["dynamodb:table"]).pk
    )
    assert scan.status == Scan.Status.COMPLETE, scan.errors
    stored = Resource.objects.get(arn=long_tagged_table)
    assert stored.tags == {"Environment": "v" * 255 + "…", "K" * 127 + "…": "x"}
    violation = Violation.objects.get(resource=stored, tag_name="Environment")
    assert (violation.violation_type, violation.current_value) == ("invalid_value", "v" * 255 + "…")
