"""The policy page: the active version's rules, the version history, a readable diff between two
versions, and the audited export as an AWS Organizations tag policy."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User

from compliance.core import policy
from compliance.core.policy_diff import Change, DiffLine, diff_policies
from compliance.models import AuditEvent, AwsAccount, TaggingPolicy
from compliance.permissions.accounts import Operator
from compliance.permissions.roles import Role
from compliance.writes.policy import do_import_policy
from tests.compliance.policies import TEST_POLICY
from tests.compliance.views.conftest import signed_in
from tests.conftest import grant

pytestmark = pytest.mark.django_db

URL = "/policy/"
DIFF = "/policy/diff"

#: TEST_POLICY, changed in every way a tag can change.
SECOND = json.dumps(
    {
        "version": "2.0",
        "required_tags": [
            {"name": "Owner", "validation_regex": r"^[a-z.]+@example\.com$"},
            {"name": "Environment", "allowed_values": ["production", "development"]},
            {"name": "Project", "applies_to": ["ec2:instance", "s3:bucket"]},
            {"name": "Name", "description": "Display name"},
        ],
        "optional_tags": [{"name": "CostCenter", "allowed_values": ["CC-1", "CC-2"]}],
        "tag_naming_rules": {"case_sensitivity": True},
    }
)


@pytest.fixture
def two_versions() -> tuple[TaggingPolicy, TaggingPolicy]:
    first = do_import_policy(TEST_POLICY, source="policy-v1.json", acting=Operator())
    second = do_import_policy(SECOND, source="policy-v2.json", acting=Operator())
    return first, second


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_active_policy_shows_its_rules_and_history(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    first, second = two_versions
    html = signed_in(alice, Role.VIEWER).get(URL).content.decode()
    assert f"Active version <strong>v{second.version}</strong>" in html
    shown = text(html)
    assert "Required tags (4)" in shown
    assert "Environment production development none every resource type" in shown
    assert r"Owner any value ^[a-z.]+@example\.com$ every resource type" in shown
    assert "Project any value none ec2:instance , s3:bucket" in shown
    assert "Optional tags (1)" in shown
    assert "CostCenter CC-1 CC-2 none every resource type" in shown
    assert "case_sensitivity True" in shown
    history = shown.split("Version history", 1)[1]
    assert f"v{second.version} " in history
    assert "Active" in history
    assert "Inactive" in history
    assert history.index(f"v{second.version}") < history.index(f"v{first.version} ")


def test_diff_defaults_to_previous_against_active_and_reads_as_words(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    first, second = two_versions
    response = signed_in(alice, Role.VIEWER).get(DIFF)
    assert response.status_code == 200
    shown = text(response.content.decode())
    assert f"From v{first.version} to v{second.version}" in shown
    for line in (
        r"Changed: Validation regex changed: ^[a-z]+@example\.com$ → ^[a-z.]+@example\.com$",
        "Added: Allowed value added: development",
        "Removed: Allowed value removed: staging",
        "Added: Now applies to s3:bucket",
        "Changed: Was optional, now required",
        "Added: Optional tag added",
        "Added: Allowed values: only CC-1, CC-2",
        "Added: Naming rule added: case_sensitivity = True",
    ):
        assert line in shown, line
    assert "{" not in shown.split("Policy changes", 1)[1]  # no raw JSON


def test_diff_of_two_given_versions_both_ways(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    first, second = two_versions
    backwards = signed_in(alice, Role.VIEWER).get(
        DIFF, {"from": second.version, "to": first.version}
    )
    shown = text(backwards.content.decode())
    assert "Removed: Optional tag removed" in shown
    assert "Changed: Was required, now optional" in shown
    assert "Added: Allowed value added: staging" in shown


def test_diff_logic_per_tag() -> None:
    before = policy.parse_policy(TEST_POLICY)
    after = policy.parse_policy(SECOND)
    diff = diff_policies(before, after)
    by_name = {tag.name: tag for tag in diff.tags}
    assert list(by_name) == ["Owner", "Environment", "Project", "Name", "CostCenter"]
    assert by_name["Environment"].lines == (
        DiffLine(Change.ADDED, "Allowed value added: development"),
        DiffLine(Change.REMOVED, "Allowed value removed: staging"),
        DiffLine(Change.REMOVED, "Description removed: Lifecycle stage"),
    )
    assert (by_name["Name"].tier_before, by_name["Name"].tier_after) == ("optional", "required")
    assert by_name["CostCenter"].change == Change.ADDED
    assert diff.unchanged == ()
    assert diff_policies(before, before).is_empty


def test_renaming_a_key_case_is_a_change_not_a_new_tag() -> None:
    before = policy.parse_policy(json.dumps({"version": "1", "required_tags": [{"name": "owner"}]}))
    after = policy.parse_policy(
        json.dumps({"version": "2", "required_tags": [{"name": "Owner", "applies_to": None}]})
    )
    (tag,) = diff_policies(before, after).tags
    assert tag.change == Change.CHANGED
    assert tag.lines == (DiffLine(Change.CHANGED, "Key renamed: owner → Owner"),)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "abc"}, "from: &#x27;abc&#x27; is not a policy version number"),
        ({"to": "1; DROP"}, "to: &#x27;1; DROP&#x27; is not a policy version number"),
        ({"to": "99"}, "policy version 99 does not exist"),
        ({"from": "1", "to": "12345678901234"}, "is not a policy version number"),
    ],
)
def test_bad_versions_get_a_clear_400(
    two_versions: tuple[TaggingPolicy, TaggingPolicy],
    alice: User,
    params: dict[str, str],
    message: str,
) -> None:
    response = signed_in(alice, Role.VIEWER).get(DIFF, params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_empty_states(alice: User) -> None:
    client = signed_in(alice, Role.VIEWER)
    assert "No tagging policy imported yet" in client.get(URL).content.decode()
    assert "nothing to compare" in client.get(DIFF).content.decode()
    do_import_policy(TEST_POLICY, acting=Operator())
    assert "is the first one: there is no earlier version" in client.get(DIFF).content.decode()


def test_export_downloads_the_aws_tag_policy_and_is_audited(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    client = signed_in(alice, Role.ANALYST)
    assert "?download=aws-tag-policy" in client.get(URL).content.decode()
    response = client.get(URL, {"download": "aws-tag-policy"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    assert document["tags"]["environment"]["tag_value"]["@@assign"] == ["production", "development"]
    assert document["tags"]["project"]["enforced_for"]["@@assign"] == ["ec2:instance", "s3:bucket"]
    event = AuditEvent.objects.get(event_type="export.policy")
    assert (event.actor_label, event.interface, event.outcome) == ("alice", "web", "success")
    assert event.detail["policy_version"] == two_versions[1].version


def test_a_viewer_cannot_export(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    client = signed_in(alice, Role.VIEWER)
    assert "?download=" not in client.get(URL).content.decode()
    assert client.get(URL, {"download": "aws-tag-policy"}).status_code == 403
    assert not AuditEvent.objects.filter(event_type="export.policy").exists()


def test_export_without_a_policy_is_a_clear_refusal_and_audited(alice: User) -> None:
    response = signed_in(alice, Role.ANALYST).get(URL, {"download": "aws-tag-policy"})
    assert response.status_code == 404
    assert "no tagging policy is active" in response.content.decode()
    assert AuditEvent.objects.get(event_type="export.policy").outcome == "error"


def test_unknown_download_is_a_400(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User
) -> None:
    response = signed_in(alice, Role.ANALYST).get(URL, {"download": "yaml"})
    assert response.status_code == 400
    assert "download: unknown export" in response.content.decode()


def test_no_role_is_refused_and_no_account_is_named(
    two_versions: tuple[TaggingPolicy, TaggingPolicy], alice: User, bob: User
) -> None:
    account = AwsAccount.objects.create(account_id="222222222222", name="data")
    grant(alice, AwsAccount.objects.create(account_id="111111111111", name="prod"))
    assert signed_in(bob, None).get(URL).status_code == 403
    assert signed_in(bob, None).get(DIFF).status_code == 403
    html = signed_in(alice, Role.VIEWER).get(URL).content.decode()
    assert account.account_id not in html
    assert "111111111111" not in html  # the policy page is about tags, never about accounts
