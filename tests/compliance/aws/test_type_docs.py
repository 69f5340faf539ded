"""The committed type list is the table's, and the IAM policy holds every type's actions."""

from __future__ import annotations

import json
from pathlib import Path

from compliance.aws.collectors import COLLECTORS, RESOURCE_TYPES
from compliance.aws.collectors.core import TagSource
from compliance.aws.iam_policy import policy_json
from compliance.aws.type_table import resource_types_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_committed_type_list_is_the_generated_one() -> None:
    committed = (DOCS / "resource-types.md").read_text(encoding="utf-8")
    assert committed == resource_types_markdown(), (
        "run: python manage.py resource_types > docs/resource-types.md"
    )


def test_at_least_seventy_types_each_named_in_the_docs_with_its_actions() -> None:
    assert len(RESOURCE_TYPES) >= 70
    text = resource_types_markdown()
    statements = json.loads(policy_json())["Statement"]
    policy = {action for statement in statements for action in statement["Action"]}
    for name, collector in COLLECTORS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{action}`" in row for action in collector.iam_actions)
        assert set(collector.iam_actions) <= policy


def test_per_resource_tag_calls_only_where_the_tagging_api_cannot_help() -> None:
    own = sorted(t for t, c in COLLECTORS.items() if c.tags is TagSource.OWN_CALL)
    assert own == ["iam:role", "iam:user"]


def test_api_gateway_reads_only_the_lists_of_apis() -> None:
    statements = json.loads(policy_json())["Statement"]
    assert "apigateway:GET" not in statements[0]["Action"]
    (scoped,) = [s for s in statements if "apigateway:GET" in s["Action"]]
    assert scoped["Action"] == ["apigateway:GET"]
    assert "arn:aws:apigateway:*::/restapis" in scoped["Resource"]
    assert "arn:aws:apigateway:*::/apis" in scoped["Resource"]
    assert "*" not in scoped["Resource"]
