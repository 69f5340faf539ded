"""Allocation and shared-cost rules in the admin and through their writes: every change a new
allocation version with its audit row, refusals audited and without effect, the versions
read-only, and the reach previewed without saving."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from compliance.audit.events import EventType
from compliance.core import allocation
from compliance.models import AllocationRule, AllocationVersion, AuditEvent, SharedCostRule
from compliance.permissions.accounts import NarrowedViewer, Operator
from compliance.permissions.roles import Role, assign_role
from compliance.reads import showback
from compliance.reads.allocation import (
    EMPTY_RULE,
    allocation_rules,
    current_version,
    rule_of,
    rule_problems,
    shared_cost_rules,
    shared_rule_of,
    shared_rule_problems,
)
from compliance.writes.allocation import (
    AllocationRuleError,
    do_delete_allocation_rule,
    do_delete_shared_cost_rule,
    do_save_allocation_rule,
    do_save_shared_cost_rule,
)
from compliance.writes.policy import do_import_policy
from compliance.writes.refusals import ActionError, NotPermitted
from tests.compliance.policies import TEST_POLICY
from tests.conftest import sign_in_with_mfa

pytestmark = pytest.mark.django_db

RULES = "/admin/compliance/allocationrule/"
SHARED = "/admin/compliance/sharedcostrule/"
VERSIONS = "/admin/compliance/allocationversion/"


@pytest.fixture(autouse=True)
def _policy() -> None:
    """Environment accepts production and staging only; Team is not governed."""
    do_import_policy(TEST_POLICY, acting=Operator())


@pytest.fixture
def admin(charlie: User) -> Client:
    client = Client()
    sign_in_with_mfa(client, charlie, "charlie-password-123")
    return client


def rule_form(**fields: str) -> dict[str, str]:
    return {
        "tag_key": "Environment",
        "position": "10",
        "name": "EBS of the web stack",
        "value": "production",
        "related": "",
        "accounts": "123456789012",
        "regions": "",
        "services": "AmazonEC2",
        "resource_types": "ec2:volume",
        "name_pattern": "web-*",
        "arn_pattern": "",
        "enabled": "on",
        **fields,
    }


def shared_form(**fields: str) -> dict[str, str]:
    return {
        "tag_key": "Team",
        "position": "5",
        "name": "Support by fixed shares",
        "mode": "fixed",
        "percentages": "red = 62.5\nblue = 37.5",
        "services": "AWSSupportBusiness",
        "charge_categories": "",
        "enabled": "on",
        **fields,
    }


def changes() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=EventType.ALLOCATION_CHANGED).order_by("id"))


def new_rule(**fields: Any) -> AllocationRule:
    base: dict[str, Any] = {
        "tag_key": "Team",
        "position": 100,
        "name": "platform by default",
        "value": "platform",
        "arn_pattern": "*",
    }
    return AllocationRule(**{**base, **fields})


# --- the admin, as an admin -------------------------------------------------------------------


def test_an_admin_adds_changes_and_deletes_an_allocation_rule(admin: Client) -> None:
    assert admin.post(f"{RULES}add/", rule_form()).status_code == 302
    rule = AllocationRule.objects.get()
    assert (rule.tag_key, rule.value, rule.accounts, rule.resource_types, rule.regions) == (
        "Environment",
        "production",
        ["123456789012"],
        ["ec2:volume"],
        [],
    )
    assert rule.updated_by == "charlie"

    response = admin.post(f"{RULES}{rule.pk}/change/", rule_form(value="staging", position="3"))
    assert response.status_code == 302
    assert admin.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not AllocationRule.objects.exists()

    versions = list(AllocationVersion.objects.order_by("version"))
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.created_by for v in versions] == ["charlie"] * 3
    assert versions[0].change == (
        f"allocation rule #{rule.pk} 'EBS of the web stack' (Environment) added"
    )
    assert versions[1].change == (
        f"allocation rule #{rule.pk} 'EBS of the web stack' (Environment) changed (position, value)"
    )
    assert [r["value"] for r in versions[0].rules["allocation_rules"]] == ["production"]
    assert [r["value"] for r in versions[1].rules["allocation_rules"]] == ["staging"]
    assert versions[2].rules == {"allocation_rules": [], "shared_cost_rules": []}

    added, changed, deleted = changes()
    assert [(e.outcome, e.interface, e.actor_label) for e in (added, changed, deleted)] == [
        ("success", "admin", "charlie")
    ] * 3
    assert added.target == f"allocation rule #{rule.pk}"
    assert added.detail == {
        "version": 1,
        "kind": "allocation rule",
        "rule_id": rule.pk,
        "name": "EBS of the web stack",
        "tag_key": "Environment",
        "change": "added",
    }
    assert (changed.detail["version"], changed.detail["change"]) == (2, "changed")
    assert changed.detail["fields"] == ["position", "value"]
    assert changed.detail["before"] == {"position": 10, "value": "production"}
    assert changed.detail["after"] == {"position": 3, "value": "staging"}
    assert (deleted.detail["version"], deleted.detail["change"]) == (3, "deleted")
    assert deleted.detail["rule"]["value"] == "staging"


def test_an_admin_adds_changes_and_deletes_a_shared_cost_rule(admin: Client) -> None:
    assert admin.post(f"{SHARED}add/", shared_form()).status_code == 302
    rule = SharedCostRule.objects.get()
    assert (rule.mode, rule.percentages, rule.services, rule.charge_categories) == (
        "fixed",
        {"red": "62.5", "blue": "37.5"},
        ["AWSSupportBusiness"],
        [],
    )
    even = shared_form(mode="even", percentages="", charge_categories="Tax")
    assert admin.post(f"{SHARED}{rule.pk}/change/", even).status_code == 302
    assert admin.post(f"{SHARED}{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not SharedCostRule.objects.exists()

    assert list(
        AllocationVersion.objects.order_by("version").values_list("version", flat=True)
    ) == [
        1,
        2,
        3,
    ]
    first = AllocationVersion.objects.get(version=1)
    assert [r["percentages"] for r in first.rules["shared_cost_rules"]] == [
        {"red": "62.5", "blue": "37.5"}
    ]
    added, changed, deleted = changes()
    assert (added.detail["kind"], added.detail["tag_key"], added.detail["change"]) == (
        "shared-cost rule",
        "Team",
        "added",
    )
    assert changed.detail["fields"] == ["charge_categories", "mode", "percentages"]
    assert changed.detail["after"] == {
        "charge_categories": ["Tax"],
        "mode": "even",
        "percentages": {},
    }
    assert (deleted.detail["version"], deleted.target) == (3, f"shared-cost rule #{rule.pk}")


def test_the_list_shows_the_rules_ordered_and_filters_by_key(admin: Client) -> None:
    operator = Operator()
    do_save_allocation_rule(new_rule(name="second", position=20), acting=operator)
    do_save_allocation_rule(new_rule(name="first", position=10), acting=operator)
    do_save_allocation_rule(
        new_rule(tag_key="Environment", name="other key", value="staging"), acting=operator
    )
    page = admin.get(RULES, {"tag_key": "Team"})
    assert page.status_code == 200
    names = [row.name for row in page.context["cl"].result_list]
    assert names == ["first", "second"]


# --- validation: errors on the form, nothing saved --------------------------------------------


def _refused_in_admin(admin: Client, url: str, form: dict[str, str], message: str) -> None:
    response = admin.post(url, form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AllocationRule.objects.exists()
    assert not SharedCostRule.objects.exists()
    assert not AllocationVersion.objects.exists()
    (refusal,) = changes()
    assert (refusal.outcome, refusal.interface, refusal.actor_label) == (
        "denied",
        "admin",
        "charlie",
    )


def test_a_pattern_with_hidden_characters_is_refused(admin: Client) -> None:
    form = rule_form(name_pattern="web-\u200b*")
    _refused_in_admin(admin, f"{RULES}add/", form, "the pattern holds control or invisible")
    errors = admin.post(f"{RULES}add/", form).context["adminform"].form.errors
    assert errors == {"name_pattern": ["the pattern holds control or invisible characters"]}


def test_a_value_the_policy_refuses_is_refused(admin: Client) -> None:
    _refused_in_admin(
        admin,
        f"{RULES}add/",
        rule_form(value="prod"),
        "&#x27;prod&#x27; is not a valid value of Environment under the active policy",
    )


def test_a_rule_without_a_matcher_is_refused(admin: Client) -> None:
    empty = rule_form(accounts="", services="", resource_types="", name_pattern="")
    _refused_in_admin(admin, f"{RULES}add/", empty, "set at least one matcher, or arn_pattern")


def test_percentages_not_adding_up_to_100_are_refused(admin: Client) -> None:
    form = shared_form(percentages="red = 50\nblue = 40.5")
    _refused_in_admin(
        admin, f"{SHARED}add/", form, "the percentages add up to 90.5, not exactly 100"
    )


def test_lists_are_typed_as_text_and_shown_back_as_text(admin: Client) -> None:
    form = rule_form(
        accounts="123456789012,\n210987654321", services="Amazon EC2\nAWS Support (Business)"
    )
    assert admin.post(f"{RULES}add/", form).status_code == 302
    rule = AllocationRule.objects.get()
    assert (rule.accounts, rule.services) == (
        ["123456789012", "210987654321"],
        ["Amazon EC2", "AWS Support (Business)"],
    )
    page = admin.get(f"{RULES}{rule.pk}/change/").content.decode()
    assert "123456789012, 210987654321</textarea>" in page


def test_fixed_shares_are_typed_one_per_line(admin: Client) -> None:
    shares = "team=red = 62.5\n\n blue = 37.5 "
    assert admin.post(f"{SHARED}add/", shared_form(percentages=shares)).status_code == 302
    assert SharedCostRule.objects.get().percentages == {"team=red": "62.5", "blue": "37.5"}


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("red 60\nblue = 40", "line 1: write value = percent"), ("red = 60\nred = 40", "given twice")],
)
def test_a_malformed_share_line_is_refused(admin: Client, typed: str, problem: str) -> None:
    response = admin.post(f"{SHARED}add/", shared_form(percentages=typed))
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert not SharedCostRule.objects.exists()


def test_a_refused_change_leaves_the_rule_and_the_versions_as_they_were(admin: Client) -> None:
    admin.post(f"{RULES}add/", rule_form())
    rule = AllocationRule.objects.get()
    response = admin.post(f"{RULES}{rule.pk}/change/", rule_form(value="prod"))
    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.value == "production"
    assert list(AllocationVersion.objects.values_list("version", flat=True)) == [1]


# --- people who may not ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_viewers_and_analysts_are_turned_away_at_the_admin_door(role: Role) -> None:
    user = User.objects.create_user("vic", "vic@example.com", "vic-password-123")
    assign_role(user, role)
    client = Client()
    sign_in_with_mfa(client, user, "vic-password-123")
    for url, form in ((f"{RULES}add/", rule_form()), (f"{SHARED}add/", shared_form())):
        response = client.post(url, form)
        assert (response.status_code, response["Location"].startswith("/admin/login/")) == (
            302,
            True,
        )
    assert client.get("/admin/login/", {"next": "/admin/"}).status_code == 403
    refused = AuditEvent.objects.get(event_type=EventType.ADMIN_REFUSED, actor=user)
    assert (refused.outcome, refused.detail["reason"]) == ("denied", "not an administrator")
    assert not AllocationRule.objects.exists()
    assert not SharedCostRule.objects.exists()
    assert not AllocationVersion.objects.exists()


def test_staff_without_the_allocation_permission_are_refused_by_the_write() -> None:
    """Someone given the add permission alone gets the form, and the write's refusal on it."""
    user = User.objects.create_user("sam", "sam@example.com", "sam-password-123", is_staff=True)
    assign_role(user, Role.VIEWER)
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_allocationrule"))
    client = Client()
    sign_in_with_mfa(client, user, "sam-password-123")
    response = client.post(f"{RULES}add/", rule_form())
    assert response.status_code == 200
    assert "Refused, nothing was saved" in response.content.decode()
    assert not AllocationRule.objects.exists()
    assert not AllocationVersion.objects.exists()
    (denied,) = AuditEvent.objects.filter(event_type=EventType.PERMISSION_DENIED, actor=user)
    assert (denied.interface, denied.detail["action"]) == ("admin", "manage_allocation")
    # Without the add permission the admin itself refuses (403), audited as such.
    assert client.post(f"{SHARED}add/", shared_form()).status_code == 403
    assert not SharedCostRule.objects.exists()
    assert AuditEvent.objects.filter(event_type=EventType.REQUEST_FORBIDDEN, actor=user).exists()


# --- the versions are read-only ----------------------------------------------------------------


def test_the_versions_are_listed_and_shown_never_added_changed_or_deleted(admin: Client) -> None:
    do_save_allocation_rule(new_rule(), acting=Operator())
    version = AllocationVersion.objects.get()
    listed = admin.get(VERSIONS)
    assert listed.status_code == 200
    assert "platform by default" in listed.content.decode()
    detail = admin.get(f"{VERSIONS}{version.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin.get(f"{VERSIONS}add/").status_code == 403
    change = {"version": "9", "change": "forged", "rules": "{}"}
    assert admin.post(f"{VERSIONS}{version.pk}/change/", change).status_code == 403
    assert admin.post(f"{VERSIONS}{version.pk}/delete/", {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    rule = AllocationRule.objects.get()
    assert (version.version, version.change) == (
        1,
        f"allocation rule #{rule.pk} 'platform by default' (Team) added",
    )
    assert AllocationVersion.objects.count() == 1


# --- preview ----------------------------------------------------------------------------------


def test_preview_shows_the_reach_and_saves_nothing(
    admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[allocation.Rule, int | None]] = []

    def reach(viewer: Any, rule: allocation.Rule, **kwargs: Any) -> showback.RuleReach:
        seen.append((rule, kwargs.get("position")))
        return showback.RuleReach(
            billing_period_start=date(2026, 11, 1),
            charges=3,
            resources=2,
            spend=Decimal("12.3456789012"),
            taken_earlier_spend=Decimal("0.0050000000"),
            sample=["arn:aws:ec2:eu-west-1:123456789012:volume/<script>x</script>"],
        )

    monkeypatch.setattr(showback, "rule_reach", reach)
    response = admin.post(f"{RULES}add/", {**rule_form(), "_preview": "Preview reach"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Reach of this rule (not saved)" in page
    assert "2026-11-01" in page
    assert "<strong>12.35</strong>" in page
    assert "<strong>0.00</strong>" in page  # 0.005 to the cent, half to even
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    assert not AllocationRule.objects.exists()
    assert not AllocationVersion.objects.exists()
    assert changes() == []
    ((rule, position),) = seen
    assert (rule.id, rule.value, rule.resource_types, position) == (
        0,
        "production",
        frozenset({"ec2:volume"}),
        10,
    )


def test_preview_of_a_change_leaves_the_saved_rule_alone(
    admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reach(viewer: Any, rule: allocation.Rule, **kwargs: Any) -> showback.RuleReach:
        return showback.RuleReach(None, 0, 0, Decimal(0), Decimal(0), [])

    monkeypatch.setattr(showback, "rule_reach", reach)
    admin.post(f"{RULES}add/", rule_form())
    rule = AllocationRule.objects.get()
    form = {**rule_form(value="staging"), "_preview": "Preview reach"}
    response = admin.post(f"{RULES}{rule.pk}/change/", form)
    assert response.status_code == 200
    assert "No costs are loaded" in response.content.decode()
    rule.refresh_from_db()
    assert rule.value == "production"
    assert AllocationVersion.objects.count() == 1


def test_preview_of_a_rule_with_problems_shows_them_and_no_reach(admin: Client) -> None:
    response = admin.post(f"{RULES}add/", {**rule_form(value="prod"), "_preview": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "is not a valid value of Environment" in page
    assert "Reach of this rule" not in page
    assert changes() == []  # nothing was attempted, so nothing was refused


def test_the_add_form_offers_the_preview_button(admin: Client) -> None:
    page = admin.get(f"{RULES}add/").content.decode()
    assert '<input type="submit" value="Preview reach" name="_preview">' in page


# --- the writes, called directly ---------------------------------------------------------------


def test_an_operator_saves_and_deletes_rules_through_the_writes() -> None:
    operator = Operator()
    first = do_save_allocation_rule(new_rule(), acting=operator, interface="cli")
    shared = SharedCostRule(tag_key="Team", name="tax evenly", mode="even")
    second = do_save_shared_cost_rule(shared, acting=operator, interface="cli")
    rule = AllocationRule.objects.get()
    third = do_delete_allocation_rule(rule.pk, acting=operator, interface="cli")
    fourth = do_delete_shared_cost_rule(shared.pk, acting=operator, interface="cli")
    assert [v.version for v in (first, second, third, fourth)] == [1, 2, 3, 4]
    assert rule.updated_by == "cli"
    assert [e.detail["change"] for e in changes()] == ["added", "added", "deleted", "deleted"]
    assert {e.interface for e in changes()} == {"cli"}
    assert second.rules["allocation_rules"][0]["name"] == "platform by default"
    assert second.rules["shared_cost_rules"][0]["mode"] == "even"
    assert current_version() == fourth


def test_a_credential_never_changes_rules(charlie: User) -> None:
    """Even an admin's own key: managing allocation needs the admin or the shell."""
    key = NarrowedViewer(user=charlie, scopes=frozenset({"read", "scan"}), label="charlie/key")
    with pytest.raises(NotPermitted) as refused:
        do_save_allocation_rule(new_rule(), acting=key, interface="mcp")
    assert refused.value.action.value == "manage_allocation"
    do_save_allocation_rule(new_rule(), acting=Operator())
    rule = AllocationRule.objects.get()
    with pytest.raises(NotPermitted):
        do_delete_allocation_rule(rule.pk, acting=key, interface="mcp")
    with pytest.raises(NotPermitted):
        do_save_shared_cost_rule(SharedCostRule(tag_key="Team", name="x"), acting=key)
    assert AllocationRule.objects.count() == 1
    assert not SharedCostRule.objects.exists()
    assert AllocationVersion.objects.count() == 1
    denied = AuditEvent.objects.filter(event_type=EventType.PERMISSION_DENIED).order_by("id")
    assert [(e.actor_id, e.detail["action"]) for e in denied] == [
        (charlie.pk, "manage_allocation")
    ] * 3


def test_a_rule_with_problems_is_refused_with_each_problem_and_audited() -> None:
    bad = new_rule(tag_key="", value="", arn_pattern="", accounts=["12345"])
    with pytest.raises(AllocationRuleError) as refused:
        do_save_allocation_rule(bad, acting=Operator())
    assert refused.value.problems == {
        "tag_key": "give the tag key the rule allocates",
        "accounts": "'12345' is not an AWS account id (12 digits)",
        "value": "give the value, or choose a related resource that gives it",
    }
    assert isinstance(refused.value, ValueError)
    assert not AllocationRule.objects.exists()
    (refusal,) = changes()
    assert refusal.outcome == "denied"
    assert refusal.detail["error"] == str(refused.value)


def test_deleting_a_rule_that_does_not_exist_is_refused_and_audited() -> None:
    with pytest.raises(ActionError, match="allocation rule #999 does not exist"):
        do_delete_allocation_rule(999, acting=Operator())
    assert [(e.outcome, e.target) for e in changes()] == [("denied", "allocation rule #999")]
    assert not AllocationVersion.objects.exists()


# --- the reads --------------------------------------------------------------------------------


def test_the_rules_of_a_key_are_the_enabled_ones_by_position_then_id() -> None:
    operator = Operator()
    for name, position, enabled in (("b", 20, True), ("a", 10, True), ("c", 10, True)):
        do_save_allocation_rule(
            new_rule(name=name, position=position, enabled=enabled), acting=operator
        )
    do_save_allocation_rule(new_rule(name="off", position=1, enabled=False), acting=operator)
    do_save_allocation_rule(
        new_rule(tag_key="Environment", name="other", value="staging"), acting=operator
    )
    assert [r.name for r in allocation_rules("Team")] == ["a", "c", "b"]
    do_save_shared_cost_rule(
        SharedCostRule(
            tag_key="Team",
            name="fixed",
            mode="fixed",
            percentages={"red": "33.3333", "blue": "66.6667"},
        ),
        acting=operator,
    )
    (shared,) = shared_cost_rules("Team")
    assert shared.percentages == {"red": Decimal("33.3333"), "blue": Decimal("66.6667")}
    assert shared_cost_rules("Environment") == []


def test_an_unsaved_rule_converts_with_id_0() -> None:
    rule = rule_of(new_rule(services=["AmazonEC2"], related="", value="platform"))
    assert rule == allocation.Rule(
        id=0,
        name="platform by default",
        tag_key="Team",
        value="platform",
        services=frozenset({"AmazonEC2"}),
        arn_pattern="*",
    )
    shared = shared_rule_of(SharedCostRule(tag_key="Team", name="s", mode="even"))
    assert (shared.id, shared.mode, shared.percentages) == (0, "even", {})


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({}, {}),
        ({"related": "parent", "value": ""}, {}),
        ({"related": "parent"}, {"value": "leave the value empty: the related resource gives it"}),
        ({"related": "sibling"}, {"related": "one of '', 'cloudformation_stack', 'parent'"}),
        ({"arn_pattern": ""}, {"arn_pattern": EMPTY_RULE}),
        ({"tag_key": "T" * 129}, {"tag_key": "the tag key is longer than 128 characters (129)"}),
        ({"tag_key": "Te\tam"}, {"tag_key": "the tag key holds control or invisible characters"}),
        ({"name": " "}, {"name": "give the rule a name"}),
        (
            {"regions": ["eu-west"]},
            {"regions": "'eu-west' is not an AWS region name (e.g. eu-west-1)"},
        ),
        ({"regions": "eu-west-1"}, {"regions": 'give a list (e.g. ["a", "b"]), or [] for any'}),
        ({"services": ["AmazonEC2", ""]}, {"services": "every entry is a non-empty string"}),
        ({"services": [3]}, {"services": "every entry is a non-empty string"}),
        (
            {"resource_types": ["ec2:thing"]},
            {"resource_types": "unknown resource type 'ec2:thing'; supported: "},
        ),
        (
            {"arn_pattern": "a" * 257},
            {"arn_pattern": "the pattern is longer than 256 characters (257)"},
        ),
        (
            {"name_pattern": "x\x00*"},
            {"name_pattern": "the pattern holds control or invisible characters"},
        ),
        ({"tag_key": "Environment", "value": "staging"}, {}),
        (
            {"tag_key": "Environment", "value": "prod"},
            {
                "value": "'prod' is not a valid value of Environment under the active policy "
                "(one of: production, staging)"
            },
        ),
    ],
)
def test_rule_problems(fields: dict[str, Any], problems: dict[str, str]) -> None:
    found = rule_problems(new_rule(**fields))
    if "resource_types" in problems:
        assert found["resource_types"].startswith(problems["resource_types"])
        assert "ec2:volume" in found["resource_types"]
        return
    assert found == problems


def not_a_percentage(value: str) -> dict[str, str]:
    return {
        "percentages": f"the percentage of {value!r} is not a number above 0 written as a "
        'string with at most 4 decimal places (e.g. "12.5")'
    }


PROD_REFUSED = (
    "'prod' is not a valid value of Environment under the active policy "
    "(one of: production, staging)"
)


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"mode": "even"}, {}),
        ({"mode": "proportional", "charge_categories": ["Tax", "Credit"]}, {}),
        ({"mode": "fixed", "percentages": {"red": "60", "blue": 40}}, {}),
        ({"mode": "fixed", "percentages": {"red": "99.9999", "blue": "0.0001"}}, {}),
        (
            {"mode": "even", "percentages": {"red": "100"}},
            {"percentages": "only fixed percentages take percentages: leave it empty ({})"},
        ),
        ({"mode": "split"}, {"mode": "one of proportional, even, fixed"}),
        (
            {"charge_categories": ["Fee"]},
            {
                "charge_categories": "unknown charge category 'Fee'; "
                "one of Usage, Purchase, Tax, Credit, Adjustment"
            },
        ),
        (
            {"mode": "fixed", "percentages": {}},
            {
                "percentages": 'give value -> percentage, e.g. {"red": "60", "blue": "40"}, '
                "adding up to 100"
            },
        ),
        (
            {"mode": "fixed", "percentages": {"red": "60", "blue": "40.00001"}},
            not_a_percentage("blue"),
        ),
        ({"mode": "fixed", "percentages": {"red": 60.0, "blue": "40"}}, not_a_percentage("red")),
        ({"mode": "fixed", "percentages": {"red": "100", "blue": "0"}}, not_a_percentage("blue")),
        ({"mode": "fixed", "percentages": {"red": "NaN"}}, not_a_percentage("red")),
        (
            {"mode": "fixed", "percentages": {"red": "60", "blue": "40.0001"}},
            {"percentages": "the percentages add up to 100.0001, not exactly 100"},
        ),
        (
            {
                "tag_key": "Environment",
                "mode": "fixed",
                "percentages": {"production": "50", "prod": "50"},
            },
            {"percentages": PROD_REFUSED},
        ),
    ],
)
def test_shared_rule_problems(fields: dict[str, Any], problems: dict[str, str]) -> None:
    rule = SharedCostRule(**{"tag_key": "Team", "name": "shared", **fields})
    assert shared_rule_problems(rule) == problems


def test_preview_without_costs_says_there_is_no_period(admin: Client) -> None:
    """Through the real reach: nothing to preview on before a bill is loaded."""
    response = admin.post(f"{RULES}add/", {**rule_form(), "_preview": "Preview reach"})
    assert response.status_code == 200
    assert "No costs are loaded" in response.content.decode()
    assert not AllocationRule.objects.exists()
