"""Account discovery in an AWS Organization (moto's Organizations): what gets registered, with
which role, the one audit row, a second run changing nothing, dry runs, and refusals."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command

from compliance.aws import session as aws_session
from compliance.models import AuditEvent, AwsAccount
from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_add_account, do_discover_accounts
from compliance.writes.refusals import ActionError

pytestmark = pytest.mark.django_db

#: moto's default account: it creates the organisation, so it is the management account.
MANAGEMENT = "123456789012"
ROLE = "TagComplianceReader"

Hook = Callable[..., None]


@dataclass
class Organization:
    active: dict[str, str]  # account id -> name, the management account included
    suspended: list[str]

    def client(self) -> Any:
        return boto3.client("organizations", region_name="us-east-1")

    def add(self, name: str) -> str:
        status = self.client().create_account(AccountName=name, Email=f"{name}@example.com")
        account_id = str(status["CreateAccountStatus"]["AccountId"])
        self.active[account_id] = name
        return account_id

    def close(self, account_id: str) -> None:
        self.client().close_account(AccountId=account_id)
        self.active.pop(account_id)
        self.suspended.append(account_id)

    @property
    def members(self) -> list[str]:
        return sorted(set(self.active) - {MANAGEMENT})


@pytest.fixture
def organization(mocked_aws: None) -> Organization:
    """The management account, three active members, and one closed (SUSPENDED) member."""
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    org = Organization(active={MANAGEMENT: "master"}, suspended=[])
    for name in ("prod", "staging", "sandbox"):
        org.add(name)
    org.close(org.add("retired"))
    return org


@pytest.fixture
def hook_clients(monkeypatch: pytest.MonkeyPatch) -> Callable[[Hook], None]:
    """Register a botocore before-call hook on every client the AWS layer makes."""
    hooks: list[Hook] = []
    original = aws_session.client

    def client_with_hooks(session: Any, service: str, region: str, **kwargs: Any) -> Any:
        made = original(session, service, region, **kwargs)
        for hook in hooks:
            made.meta.events.register("before-call.*.*", hook)
        return made

    monkeypatch.setattr(aws_session, "client", client_with_hooks)
    return hooks.append


def list_accounts_fails_with(code: str) -> Hook:
    """A hook raising the error AWS raises on ListAccounts, before the request is sent."""

    def fail(model: Any, **_: Any) -> None:
        if model.name == "ListAccounts":
            raise ClientError({"Error": {"Code": code, "Message": f"{code} (test)"}}, model.name)

    return fail


def discover(**options: Any) -> Any:
    options.setdefault("role_name", ROLE)
    return do_discover_accounts(acting=Operator(), **options)


def registered() -> dict[str, tuple[str, str, str, list[str]]]:
    return {
        a.account_id: (a.name, a.role_arn, a.external_id, a.regions)
        for a in AwsAccount.objects.all()
    }


def discovery_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type="accounts.discovered").order_by("id"))


def test_registers_every_active_account_with_the_role_to_assume(
    organization: Organization,
) -> None:
    discover(external_id="finops-ext-1", regions=["eu-west-1", "us-east-1"])
    expected = {
        account_id: (
            name,
            f"arn:aws:iam::{account_id}:role/{ROLE}",
            "finops-ext-1",
            ["eu-west-1", "us-east-1"],
        )
        for account_id, name in organization.active.items()
        if account_id != MANAGEMENT
    }
    # The management account runs the discovery: its default credentials reach it, no role.
    expected[MANAGEMENT] = ("master", "", "", ["eu-west-1", "us-east-1"])
    assert registered() == expected
    assert not AwsAccount.objects.filter(account_id__in=organization.suspended).exists()


def test_one_audit_row_sums_up_the_run(organization: Organization) -> None:
    plan = discover()
    (event,) = discovery_events()
    assert (event.outcome, event.actor_label) == ("success", "cli")
    assert event.target == f"organization, from account {MANAGEMENT}"
    assert event.detail["counts"] == {
        "added": 4,
        "updated": 0,
        "unchanged": 0,
        "suspended_skipped": 1,
        "not_in_organization": 0,
    }
    assert sorted(a["account_id"] for a in event.detail["added"]) == sorted(organization.active)
    assert event.detail["suspended_skipped"] == organization.suspended
    assert (event.detail["role_name"], event.detail["external_id_set"]) == (ROLE, False)
    assert event.detail == {"role_name": ROLE, "external_id_set": False, "regions": []} | (
        plan.summary()
    )


def test_a_second_run_changes_nothing(organization: Organization) -> None:
    discover(regions=["us-east-1"])
    before = registered()
    plan = discover(regions=["us-east-1"])
    assert registered() == before
    assert plan.added == plan.updated == []
    assert plan.unchanged == sorted(organization.active)
    second = discovery_events()[1]
    assert second.detail["counts"]["unchanged"] == 4
    assert (second.detail["counts"]["added"], second.detail["counts"]["updated"]) == (0, 0)


def test_registered_accounts_keep_their_regions_and_follow_the_organisation_name(
    organization: Organization,
) -> None:
    prod = next(i for i, name in organization.active.items() if name == "prod")
    do_add_account(
        account_id=prod,
        name="old name",
        role_arn=f"arn:aws:iam::{prod}:role/Other",
        regions=["ap-southeast-2"],
        acting=Operator(),
    )
    plan = discover(regions=["us-east-1"])
    assert registered()[prod] == (
        "prod",
        f"arn:aws:iam::{prod}:role/{ROLE}",
        "",
        ["ap-southeast-2"],
    )
    (update,) = plan.updated
    assert update.changes == {
        "name": ["old name", "prod"],
        "role_arn": [f"arn:aws:iam::{prod}:role/Other", f"arn:aws:iam::{prod}:role/{ROLE}"],
    }


def test_accounts_that_left_the_organisation_are_reported_and_kept(
    organization: Organization,
) -> None:
    do_add_account(account_id="999999999999", name="gone", acting=Operator())
    plan = discover()
    assert plan.not_in_organization == ["999999999999"]
    assert registered()["999999999999"] == ("gone", "", "", [])
    assert discovery_events()[-1].detail["not_in_organization"] == ["999999999999"]


def test_a_suspended_account_already_registered_is_left_alone(organization: Organization) -> None:
    (retired,) = organization.suspended
    do_add_account(account_id=retired, name="retired", acting=Operator())
    plan = discover()
    assert plan.suspended_skipped == [retired]
    assert retired not in plan.not_in_organization
    assert registered()[retired] == ("retired", "", "", [])


def test_every_page_of_accounts_is_read(
    organization: Organization, hook_clients: Callable[[Hook], None]
) -> None:
    calls: Counter[str] = Counter()
    hook_clients(lambda model, **_: calls.update([model.name]))
    # moto answers ListAccounts 100 accounts a page, as AWS may: 104 accounts need two pages.
    for n in range(100):
        organization.add(f"member-{n:03d}")
    plan = discover()
    assert calls["ListAccounts"] == 2
    assert len(plan.added) == len(organization.active) == 104
    assert AwsAccount.objects.count() == 104


def test_dry_run_writes_nothing(organization: Organization) -> None:
    plan = discover(dry_run=True)
    assert sorted(r.account_id for r in plan.added) == sorted(organization.active)
    assert AwsAccount.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_access_denied_outside_the_management_account_is_clear_and_changes_nothing(
    organization: Organization, hook_clients: Callable[[Hook], None]
) -> None:
    hook_clients(list_accounts_fails_with("AccessDeniedException"))
    with pytest.raises(ActionError) as refused:
        discover()
    assert str(refused.value) == (
        f"Organizations refused ListAccounts to account {MANAGEMENT} (AccessDeniedException): "
        "run discovery with the credentials of the organisation's management account or of a "
        "delegated administrator, allowed organizations:ListAccounts"
    )
    assert AwsAccount.objects.count() == 0
    (event,) = discovery_events()
    assert (event.outcome, event.detail) == ("error", {"error": str(refused.value)})


def test_an_account_outside_any_organisation_is_told_so(
    mocked_aws: None, hook_clients: Callable[[Hook], None]
) -> None:
    # moto lists no account there; AWS refuses the call, as the hook does.
    hook_clients(list_accounts_fails_with("AWSOrganizationsNotInUseException"))
    with pytest.raises(ActionError) as refused:
        discover()
    assert str(refused.value) == (
        f"account {MANAGEMENT} is not a member of an AWS Organization: nothing to discover"
    )
    assert AwsAccount.objects.count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"role_name": "no spaces"}, "role_name: 'no spaces' is not an IAM role name"),
        ({"role_name": "x" * 65}, "is not an IAM role name"),
        ({"regions": ["mars-1"]}, "regions: 'mars-1' is not an AWS region name"),
        ({"external_id": "x"}, "external_id: 2 to 1224 characters"),
    ],
)
def test_bad_input_is_refused_audited_and_changes_nothing(
    organization: Organization, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ActionError, match=message):
        discover(**options)
    assert AwsAccount.objects.count() == 0
    (event,) = discovery_events()
    assert event.outcome == "denied"


def test_a_role_under_a_path_is_accepted(organization: Organization) -> None:
    discover(role_name="finops/TagReader")
    prod = next(i for i, name in organization.active.items() if name == "prod")
    assert registered()[prod][1] == f"arn:aws:iam::{prod}:role/finops/TagReader"


# --- The command --------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("discover_accounts", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_json_lists_what_it_did(organization: Organization) -> None:
    result = json.loads(run("--role-name", ROLE, "--regions", "us-east-1,eu-west-1", "--json"))
    assert result["dry_run"] is False
    assert result["counts"]["added"] == 4
    assert {a["account_id"]: a["regions"] for a in result["added"]} == {
        account_id: ["eu-west-1", "us-east-1"] for account_id in organization.active
    }
    assert AwsAccount.objects.count() == 4


def test_command_dry_run_says_so_and_writes_nothing(organization: Organization) -> None:
    out = run("--role-name", ROLE, "--dry-run")
    assert "Would add 4, update 0, 0 unchanged, 1 not active skipped" in out
    assert "(dry run: nothing written)" in out
    assert f"would be added: {organization.members[0]}" in out
    assert AwsAccount.objects.count() == AuditEvent.objects.count() == 0


def test_command_access_denied_is_a_command_error(
    organization: Organization, hook_clients: Callable[[Hook], None]
) -> None:
    hook_clients(list_accounts_fails_with("AccessDeniedException"))
    with pytest.raises(CommandError, match="management account or of a delegated administrator"):
        run("--role-name", ROLE)
    assert AwsAccount.objects.count() == 0
