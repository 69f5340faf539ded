"""A tag key with hidden characters (``Own\\u200ber`` for ``Owner``): its own violation type, and
shown visibly wherever the dashboard prints text from AWS."""

from __future__ import annotations

import boto3
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from compliance.core.policy import (
    HIDDEN_CHARACTERS_IN_KEY,
    MISSING_REQUIRED_TAG,
    WRONG_KEY_CASE,
    Finding,
    Policy,
    TagRule,
    evaluate,
    judge,
)
from compliance.models import Resource, Scan, Violation
from compliance.permissions.accounts import Operator
from compliance.templatetags.untrusted import revealed
from compliance.writes.accounts import do_add_account
from compliance.writes.policy import do_import_policy
from tests.compliance.policies import TEST_POLICY
from tests.compliance.test_scans import ACCOUNT, REGIONS, scan_now

ZWSP = "\u200b"
POLICY = Policy(
    version="1",
    name="test",
    required_tags=(TagRule("Owner"), TagRule("CostCenter", allowed_values=("CC-1",))),
    optional_tags=(TagRule("Team"),),
)
MARKED = '<span class="hidden-char">⟨U+200B⟩</span>'


def owner_finding(tags: dict[str, str]) -> list[Finding]:
    return [f for f in evaluate(POLICY, "ec2:instance", tags) if f.tag_name == "Owner"]


def test_a_zero_width_space_in_a_required_key_is_its_own_violation_type() -> None:
    assert owner_finding({f"Own{ZWSP}er": "ann", "CostCenter": "CC-1"}) == [
        Finding(HIDDEN_CHARACTERS_IN_KEY, "Owner", "ann", "key 'Owner' (found 'Own⟨U+200B⟩er')")
    ]


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("Owner\u202e", "Owner⟨U+202E⟩"),  # right-to-left override
        ("\u2066Owner\u2069", "⟨U+2066⟩Owner⟨U+2069⟩"),  # bidi isolate
        ("Own\u00a0er", "Own⟨U+00A0⟩er"),  # no-break space
        ("Own\u00ader", "Own⟨U+00AD⟩er"),  # soft hyphen
        ("Owner\U000e0041", "Owner⟨U+E0041⟩"),  # Unicode tag character
        ("Own\ner", "Own⟨U+000A⟩er"),  # control
    ],
)
def test_every_kind_of_hidden_character_is_reported_revealed(key: str, shown: str) -> None:
    [finding] = owner_finding({key: "ann", "CostCenter": "CC-1"})
    assert (finding.violation_type, finding.expected) == (
        HIDDEN_CHARACTERS_IN_KEY,
        f"key 'Owner' (found '{shown}')",
    )


def test_a_disguised_key_in_other_letter_case_is_still_hidden_characters() -> None:
    [finding] = owner_finding({f"own{ZWSP}er": "ann", "CostCenter": "CC-1"})
    assert finding.violation_type == HIDDEN_CHARACTERS_IN_KEY


def test_a_plain_wrong_case_key_beside_a_disguised_one_is_reported_as_wrong_case() -> None:
    [finding] = owner_finding({"owner": "bob", f"Own{ZWSP}er": "ann", "CostCenter": "CC-1"})
    assert (finding.violation_type, finding.current_value) == (WRONG_KEY_CASE, "bob")


def test_the_exact_key_beside_a_disguised_one_complies() -> None:
    tags = {"Owner": "ann", f"Own{ZWSP}er": "eve", "CostCenter": "CC-1"}
    assert judge(POLICY, "ec2:instance", tags) == (True, [])


def test_a_key_that_reads_differently_is_plainly_missing() -> None:
    assert [f.violation_type for f in owner_finding({f"Own{ZWSP}ers": "ann"})] == [
        MISSING_REQUIRED_TAG
    ]


def test_a_disguised_key_is_not_judged_on_its_value_and_makes_the_resource_non_compliant() -> None:
    compliant, findings = judge(POLICY, "ec2:instance", {f"Cost{ZWSP}Center": "nope", "Owner": "a"})
    assert (compliant, [(f.violation_type, f.tag_name) for f in findings]) == (
        False,
        [(HIDDEN_CHARACTERS_IN_KEY, "CostCenter")],
    )


def test_the_page_filter_escapes_text_and_styles_each_marker() -> None:
    assert revealed(f"<b>Own{ZWSP}er</b>") == f"&lt;b&gt;Own{MARKED}er&lt;/b&gt;"
    # Text that merely spells a marker stays text, unstyled.
    assert revealed("⟨U+200B⟩") == "⟨U+200B⟩"


# --- Through a scan, onto the pages ------------------------------------------------------------


@pytest.fixture
def disguised(mocked_aws: None, db: None) -> Resource:
    """An instance named ``web\\u200b-1`` whose Owner key holds a zero-width space, scanned."""
    do_add_account(account_id=ACCOUNT, name="prod", regions=REGIONS, acting=Operator())
    do_import_policy(TEST_POLICY, acting=Operator())
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = {
        "Name": f"web{ZWSP}-1",
        f"Own{ZWSP}er": "ann@example.com",
        "Environment": "production",
        "Project": "x",
    }
    ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    assert scan_now(resource_types=["ec2:instance"]).status == Scan.Status.COMPLETE
    return Resource.objects.get()


@pytest.fixture
def browser(charlie: User) -> Client:
    client = Client()
    client.force_login(charlie)
    return client


def test_a_scan_records_the_disguised_owner_key_as_hidden_characters(disguised: Resource) -> None:
    assert list(
        Violation.objects.values_list("violation_type", "tag_name", "current_value", "expected")
    ) == [
        (
            HIDDEN_CHARACTERS_IN_KEY,
            "Owner",
            "ann@example.com",
            "key 'Owner' (found 'Own⟨U+200B⟩er')",
        )
    ]


def test_the_resources_list_shows_the_hidden_character_in_the_name(
    disguised: Resource, browser: Client
) -> None:
    page = browser.get(reverse("compliance:resources")).content.decode()
    assert f"web{MARKED}-1" in page
    assert ZWSP not in page


def test_the_resource_page_shows_the_hidden_character_in_the_key(
    disguised: Resource, browser: Client
) -> None:
    page = browser.get(reverse("compliance:resource_detail", args=[disguised.pk])).content.decode()
    assert f'<th scope="row">Own{MARKED}er</th><td>ann@example.com</td>' in page
    assert "(found &#x27;Own⟨U+200B⟩er&#x27;)" in page
    assert ZWSP not in page


def test_the_violations_page_lists_the_rule_under_its_own_label(
    disguised: Resource, browser: Client
) -> None:
    response = browser.get(reverse("compliance:violations"))
    rules = [(row["rule"].tag_name, row["label"]) for row in response.context["rows"]]
    assert rules == [("Owner", "Hidden characters in key")]
    assert ZWSP not in response.content.decode()


def test_the_violations_filter_accepts_the_new_type(disguised: Resource, browser: Client) -> None:
    response = browser.get(
        reverse("compliance:violations"), {"violation_type": HIDDEN_CHARACTERS_IN_KEY}
    )
    assert (response.status_code, len(response.context["rows"])) == (200, 1)
