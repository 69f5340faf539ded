"""import_policy, add_account and report, as an operator runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.models import AuditEvent, AwsAccount, TaggingPolicy
from tests.compliance.policies import BROKEN_REGEX_POLICY, TEST_POLICY

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).resolve().parents[2] / "compliance" / "sample_data"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_import_policy_creates_the_active_version(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(TEST_POLICY)
    output = run("import_policy", str(path))
    active = TaggingPolicy.objects.get(is_active=True)
    assert active.version == 1
    assert active.source_format == "mcp_json"
    assert [t["name"] for t in active.document["required_tags"]] == [
        "Owner",
        "Environment",
        "Project",
    ]
    assert "Imported policy v1" in output
    event = AuditEvent.objects.get(event_type="policy.imported")
    assert event.detail["required_tags"] == ["Owner", "Environment", "Project"]


@pytest.mark.parametrize(
    "sample", ["sample_policy.yaml", "tagging_policy.json", "aws_org_tag_policy.json"]
)
def test_every_sample_format_imports(sample: str) -> None:
    run("import_policy", str(SAMPLES / sample))
    assert TaggingPolicy.objects.get(is_active=True).document["required_tags"]


def test_a_second_import_supersedes_the_first(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(TEST_POLICY)
    run("import_policy", str(path))
    run("import_policy", str(path))
    assert list(TaggingPolicy.objects.values_list("version", "is_active")) == [
        (2, True),
        (1, False),
    ]


def test_malformed_policy_is_refused_and_the_active_one_stays(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(TEST_POLICY)
    run("import_policy", str(good))
    bad = tmp_path / "bad.json"
    bad.write_text(BROKEN_REGEX_POLICY)
    with pytest.raises(CommandError, match=r"required_tags\[0\]\.validation_regex"):
        run("import_policy", str(bad))
    assert list(TaggingPolicy.objects.values_list("version", "is_active")) == [(1, True)]
    refused = AuditEvent.objects.get(event_type="policy.rejected")
    assert refused.outcome == "denied"
    assert "validation_regex" in refused.detail["error"]


def test_missing_policy_file_is_a_clear_error_and_audited(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run("import_policy", str(tmp_path / "nope.yaml"))
    assert not TaggingPolicy.objects.exists()
    refused = AuditEvent.objects.get(event_type="policy.rejected")
    assert (refused.outcome, refused.target) == ("denied", str(tmp_path / "nope.yaml"))


def test_a_device_is_not_read_as_a_policy() -> None:
    with pytest.raises(CommandError, match="not a regular file"):
        run("import_policy", "/dev/zero")
    assert not TaggingPolicy.objects.exists()


def test_add_account_with_role_and_regions() -> None:
    run(
        "add_account",
        "--account-id",
        "123456789012",
        "--name",
        "prod",
        "--role-arn",
        "arn:aws:iam::123456789012:role/Reader",
        "--external-id",
        "xyz",
        "--regions",
        "eu-west-1, us-east-1",
    )
    account = AwsAccount.objects.get()
    assert (account.account_id, account.role_arn, account.external_id, account.regions) == (
        "123456789012",
        "arn:aws:iam::123456789012:role/Reader",
        "xyz",
        ["eu-west-1", "us-east-1"],
    )
    event = AuditEvent.objects.get(event_type="account.added")
    assert event.detail["external_id_set"] is True
    assert "xyz" not in json.dumps(event.detail)


def test_add_account_again_updates_it() -> None:
    run("add_account", "--account-id", "123456789012", "--name", "prod")
    run("add_account", "--account-id", "123456789012", "--name", "production")
    assert list(AwsAccount.objects.values_list("name", flat=True)) == ["production"]
    assert AuditEvent.objects.filter(event_type="account.changed").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account-id", "12345", "--name", "x"], "account_id: An AWS account id is 12 digits"),
        (
            ["--account-id", "123456789012", "--name", "x", "--role-arn", "arn:aws:s3:::b"],
            "role_arn: Expected an IAM role ARN",
        ),
        (
            ["--account-id", "123456789012", "--name", "x", "--regions", "mars-1"],
            "regions: 'mars-1' is not an AWS region name",
        ),
        (
            ["--account-id", "123456789012", "--name", "x", "--external-id", "e"],
            "external_id: only meaningful with a role ARN",
        ),
    ],
)
def test_add_account_refuses_bad_input(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("add_account", *args)
    assert not AwsAccount.objects.exists()
    assert AuditEvent.objects.get().outcome == "denied"


def test_report_before_any_scan_says_so() -> None:
    assert json.loads(run("report"))["scan"] is None
    assert "No finished scan yet" in run("report", "--format", "markdown")


def test_report_for_an_unknown_account_is_an_error() -> None:
    with pytest.raises(CommandError, match="not found or not visible"):
        run("report", "--account", "999999999999")
