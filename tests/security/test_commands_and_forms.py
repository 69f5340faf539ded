# ruff: noqa: RUF001 (the corpus is made of look-alike characters on purpose)
"""Bad input to the management commands and the admin forms: refused with a clear error,
audited where the action is security-relevant, and nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from compliance.audit.events import EventType
from compliance.permissions.accounts import Operator
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from tests.compliance.policies import TEST_POLICY
from tests.conftest import sign_in_with_mfa
from tests.security.conftest import LEAKS, Snapshot, assert_refusal_audited

POLICY_CONTENTS: list[tuple[str, str | bytes]] = [
    ("empty", ""),
    ("not_json_or_yaml", "{{{{"),
    ("json_list", "[1, 2, 3]"),
    ("json_number", "42"),
    ("required_tags_string", '{"required_tags": "Owner"}'),
    ("tag_name_int", '{"required_tags": [{"name": 5}]}'),
    ("broken_regex", '{"required_tags": [{"name": "Owner", "validation_regex": "([a-z"}]}'),
    ("yaml_python_tag", "!!python/object/apply:os.system ['id']"),
    (
        "yaml_alias_bomb",
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    ),
    ("deep_json", '{"a": ' * 3000 + "1" + "}" * 3000),
    ("org_policy_bad_assign", '{"tags": {"owner": {"tag_key": {"@@assign": 5}}}}'),
]


@pytest.mark.parametrize(
    "content", [pytest.param(content, id=name) for name, content in POLICY_CONTENTS]
)
def test_import_policy_refuses_bad_documents(db: None, tmp_path: Path, content: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(content, encoding="utf-8")
    before = Snapshot.take()
    with pytest.raises(CommandError) as refused:
        call_command("import_policy", str(path))
    assert LEAKS.search(str(refused.value).replace(str(path), "")) is None
    assert_refusal_audited(before.assert_unchanged(), {"policy.rejected"})


COST_SOURCES = [
    "../../etc/passwd",
    "/etc/passwd",
    "/etc/shadow",
    "/proc/self/environ",
    "/dev/zero",
    "/dev/stdin",
    "s3://",
    "s3://bucket-without-key",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "; rm -rf /",
    "=cmd|' /C calc'!A0",
    "bill\u0000.csv",
]


@pytest.mark.parametrize("source", COST_SOURCES)
def test_import_costs_refuses_bad_sources(db: None, mocked_aws: None, source: str) -> None:
    before = Snapshot.take()
    with pytest.raises(CommandError):
        call_command("import_costs", source)
    assert_refusal_audited(before.assert_unchanged(), {"costs.rejected"})


ACCOUNTS: list[tuple[str, dict[str, str]]] = [
    ("id_short", {"account_id": "12345"}),
    ("id_letters", {"account_id": "12345678901a"}),
    ("id_fullwidth", {"account_id": "１２３４５６７８９０１２"}),
    ("id_sql", {"account_id": "1' OR '1'='1"}),
    ("id_traversal", {"account_id": "../../../etc"}),
    ("id_nul", {"account_id": "12345678901\u0000"}),
    ("role_arn_not_arn", {"role_arn": "admin"}),
    ("role_arn_other_service", {"role_arn": "arn:aws:s3:::bucket"}),
    ("external_id_without_role", {"external_id": "x"}),
    ("regions_traversal", {"regions": "../../etc/passwd"}),
    ("regions_shell", {"regions": "us-east-1;id"}),
    ("name_overlong", {"name": "n" * 500}),
]


@pytest.mark.parametrize(
    "options",
    [pytest.param(options, id=name) for name, options in ACCOUNTS],
)
def test_add_account_refuses_bad_input(db: None, options: dict[str, str]) -> None:
    arguments = {"account_id": "123456789012", "name": "prod"} | options
    before = Snapshot.take()
    with pytest.raises(CommandError):
        call_command("add_account", *[f"--{k.replace('_', '-')}={v}" for k, v in arguments.items()])
    assert_refusal_audited(before.assert_unchanged(), {"account.added"})


SCAN_OPTIONS: list[tuple[str, list[str]]] = [
    ("unregistered_account", ["--account", "999999999999"]),
    ("account_sql", ["--account", "1' OR 1=1"]),
    ("region_traversal", ["--regions", "../../etc"]),
    ("type_unknown", ["--types", "ec2:*"]),
    ("type_shell", ["--types", "$(id)"]),
]


@pytest.mark.parametrize(
    "options", [pytest.param(options, id=name) for name, options in SCAN_OPTIONS]
)
def test_scan_refuses_bad_scope(db: None, options: list[str]) -> None:
    do_add_account(account_id="123456789012", name="prod", acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    before = Snapshot.take()
    with pytest.raises(CommandError):
        call_command("scan", *options)
    assert_refusal_audited(before.assert_unchanged(), {"scan.requested"})


# --- the admin forms -----------------------------------------------------------------------

IMPORT_URL = "/admin/compliance/taggingpolicy/import/"
ACCOUNT_URL = "/admin/compliance/awsaccount/add/"


@pytest.fixture
def admin_client(superuser: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    sign_in_with_mfa(client, superuser, "root-password-123")
    return client


CSRF_CASES = [
    ("policy_no_token", IMPORT_URL, {"document": TEST_POLICY}, {}),
    (
        "policy_forged_token",
        IMPORT_URL,
        {"document": TEST_POLICY, "csrfmiddlewaretoken": "x" * 64},
        {},
    ),
    (
        "policy_foreign_origin",
        IMPORT_URL,
        {"document": TEST_POLICY},
        {"HTTP_ORIGIN": "https://evil.example"},
    ),
    ("account_no_token", ACCOUNT_URL, {"account_id": "123456789012", "name": "x"}, {}),
    (
        "account_forged_token",
        ACCOUNT_URL,
        {"account_id": "123456789012", "name": "x", "csrfmiddlewaretoken": "0" * 32},
        {},
    ),
    (
        "account_foreign_referer",
        ACCOUNT_URL,
        {"account_id": "123456789012", "name": "x"},
        {"HTTP_REFERER": "https://evil.example/", "wsgi.url_scheme": "https"},
    ),
]


@pytest.mark.parametrize(
    ("url", "data", "extra"),
    [pytest.param(url, data, extra, id=name) for name, url, data, extra in CSRF_CASES],
)
def test_admin_posts_without_a_csrf_token_are_refused(
    admin_client: Client, url: str, data: dict[str, str], extra: dict[str, str]
) -> None:
    before = Snapshot.take()
    response = admin_client.post(url, data, **extra)  # type: ignore[arg-type]
    assert response.status_code == 403
    event = assert_refusal_audited(before.assert_unchanged(), {EventType.CSRF_FAILED})
    assert event.target == url


def _csrf_post(client: Client, url: str, data: dict[str, str]) -> int:
    page = client.get(url)
    token = page.context["csrf_token"] if page.context else ""
    return client.post(url, {**data, "csrfmiddlewaretoken": str(token)}).status_code


ADMIN_POLICIES = [(name, content) for name, content in POLICY_CONTENTS if name != "empty"]


@pytest.mark.parametrize(
    "content", [pytest.param(content, id=name) for name, content in ADMIN_POLICIES]
)
def test_admin_policy_import_refuses_bad_documents(admin_client: Client, content: str) -> None:
    before = Snapshot.take()
    assert _csrf_post(admin_client, IMPORT_URL, {"document": str(content)}) == 200
    assert_refusal_audited(before.assert_unchanged(), {"policy.rejected"})


@pytest.mark.parametrize("account", ["'; DROP TABLE x", "1.5", "99999999999999999999999"])
def test_admin_grant_form_shows_an_impossible_account_as_an_error(
    admin_client: Client, account: str
) -> None:
    before = Snapshot.take()
    status = _csrf_post(
        admin_client, "/admin/compliance/accountaccess/add/", {"account": account, "user": ""}
    )
    assert status == 200
    before.assert_unchanged()
