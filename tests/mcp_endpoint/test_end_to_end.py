"""The real SDK client against the real server (uvicorn serving finops_site.asgi): every tool
called over Streamable HTTP, results checked against the database."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2
import pytest
import yaml
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from compliance.models import AuditEvent, Resource, Scan, Violation
from compliance.permissions.accounts import Operator
from mcp_endpoint.models import ApiKey
from mcp_endpoint.tools import TOOLS
from tests.compliance.test_scans import ACCOUNT
from tests.mcp_endpoint.conftest import ScannedEstate

pytestmark = pytest.mark.slow

T = TypeVar("T")

EXPECTED_TOOLS = {
    "get_tagging_policy",
    "check_tag_compliance",
    "find_untagged_resources",
    "validate_resource_tags",
    "generate_compliance_report",
    "export_violations_csv",
    "get_cost_attribution_gap",
    "get_spend_by_tag",
    "suggest_tags",
    "get_violation_history",
    "detect_tag_drift",
    "list_scans",
    "start_scan",
    "generate_custodian_policy",
    "get_security_checklist",  # administrators only: tested in tests/compliance/test_checklist.py
}


def with_session(url: str, key: str, use: Callable[[ClientSession], Awaitable[T]]) -> T:
    async def main() -> T:
        headers = {"Authorization": f"Bearer {key}", "X-Correlation-ID": "e2e-test-0001"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await use(session)

    return anyio.run(main)


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content
    return dict(result.structured_content)


def test_every_tool_answers_from_the_database(
    live_mcp: str, scanned: ScannedEstate, alice_key: str
) -> None:
    untagged_arn = scanned.estate.arn(scanned.estate.untagged_instance)

    async def use(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        out: dict[str, Any] = {"tools": {tool.name: tool for tool in listed.tools}}
        calls: dict[str, dict[str, Any]] = {
            "get_tagging_policy": {},
            "check_tag_compliance": {"limit": 4},
            "find_untagged_resources": {},
            "validate_resource_tags": {
                "resource_type": "ec2:instance",
                "tags": {"Owner": "ann@example.com", "Environment": "production"},
            },
            "generate_compliance_report": {"format": "json"},
            "export_violations_csv": {},
            "get_cost_attribution_gap": {},
            "get_spend_by_tag": {"tag_key": "Owner"},
            "suggest_tags": {"resource_arn": untagged_arn},
            "get_violation_history": {"granularity": "day"},
            "detect_tag_drift": {},
            "list_scans": {},
            "generate_custodian_policy": {},
            "start_scan": {"resource_types": ["s3:bucket"]},
        }
        for name, arguments in calls.items():
            out[name] = structured(await session.call_tool(name, arguments))
        first = out["check_tag_compliance"]
        out["page2"] = structured(
            await session.call_tool(
                "check_tag_compliance", {"limit": 4, "cursor": first["next_cursor"]}
            )
        )
        out["markdown"] = structured(
            await session.call_tool("generate_compliance_report", {"format": "markdown"})
        )
        return out

    out = with_session(live_mcp, alice_key, use)
    assert set(out["tools"]) == EXPECTED_TOOLS == set(TOOLS)
    schema = out["tools"]["check_tag_compliance"].input_schema
    assert schema["additionalProperties"] is False
    assert schema["properties"]["limit"]["maximum"] == 500

    scan = scanned.scan
    scan_block = {"id": scan.pk, "data_quality": "complete", "failed": []}
    assert out["get_tagging_policy"]["version"] == 1
    assert [t["name"] for t in out["get_tagging_policy"]["required_tags"]] == [
        "Owner",
        "Environment",
        "Project",
    ]

    compliance = out["check_tag_compliance"]
    assert compliance["compliance_score"] == pytest.approx(0.4)
    assert (compliance["total_resources"], compliance["compliant_resources"]) == (5, 2)
    assert compliance["violation_count"] == Violation.objects.count() == 6
    assert {k: compliance["scan"][k] for k in scan_block} == scan_block
    both_pages = compliance["violations"] + out["page2"]["violations"]
    assert out["page2"]["next_cursor"] is None
    assert sorted((v["resource_arn"], v["tag_name"], v["violation_type"]) for v in both_pages) == (
        sorted(
            (v.resource.arn, v.tag_name, v.violation_type)
            for v in Violation.objects.select_related("resource")
        )
    )
    assert all(v["cost_impact_monthly"] is None for v in both_pages)
    assert {v["account_id"] for v in both_pages} == {ACCOUNT}

    untagged = out["find_untagged_resources"]
    assert [r["resource_arn"] for r in untagged["resources"]] == [untagged_arn]
    assert untagged["resources"][0]["missing_tags"] == ["Environment", "Owner", "Project"]

    validated = out["validate_resource_tags"]
    assert validated["compliant"] is False
    assert [(v["violation_type"], v["tag_name"]) for v in validated["violations"]] == [
        ("missing_required_tag", "Project")
    ]

    report = out["generate_compliance_report"]
    assert report["total_resources"] == Resource.objects.count() == 5
    assert len(report["violations"]) == 6
    assert out["markdown"]["content"].startswith("# Tag compliance report")

    csv_text = out["export_violations_csv"]["csv"]
    assert csv_text.splitlines()[0].startswith("resource_arn,resource_type,region,account_id")
    assert len(csv_text.splitlines()) == 7

    custodian = yaml.safe_load(out["generate_custodian_policy"]["policy"])
    assert sorted(p["resource"] for p in custodian["policies"]) == [
        "aws.dynamodb-table",
        "aws.ec2",
        "aws.s3",
    ]
    assert all(p["actions"] == [] for p in custodian["policies"])

    gap = out["get_cost_attribution_gap"]
    assert gap["cost_source"] is None
    assert gap["total_spend"] is None
    showback = out["get_spend_by_tag"]
    assert (showback["billing_period_start"], showback["rows"]) == (None, [])
    assert showback["total_spend"] is None

    assert out["suggest_tags"]["resource_arn"] == untagged_arn
    from compliance.reads.suggestions import suggest_tags

    expected = suggest_tags(Operator(), untagged_arn)
    assert expected, "the estate gives the untagged instance something to suggest"
    assert [
        (s["tag_name"], s["value"], s["source"]) for s in out["suggest_tags"]["suggestions"]
    ] == [(s.tag_name, s.value, s.source) for s in expected]
    [period] = out["get_violation_history"]["periods"]
    assert (period["scan_id"], period["violations"]) == (scan.pk, 6)
    assert out["detect_tag_drift"]["to_scan_id"] == scan.pk
    assert out["detect_tag_drift"]["next_cursor"] is None

    assert out["list_scans"]["scans"][0]["id"] == scan.pk
    started = out["start_scan"]
    queued = Scan.objects.get(pk=started["scan_id"])
    assert (queued.status, queued.account_ids, queued.resource_types) == (
        "queued",
        [ACCOUNT],
        ["s3:bucket"],
    )

    calls = AuditEvent.objects.filter(event_type="mcp.call", correlation_id="e2e-test-0001")
    assert calls.count() == 16
    row = calls.filter(target="start_scan").get()
    assert row.actor is not None
    assert row.actor.username == "alice"
    assert row.detail["key_prefix"] == ApiKey.objects.get().prefix
    assert row.detail["arguments"] == {"resource_types": ["s3:bucket"]}
    assert row.client_address == "127.0.0.1"
    assert row.interface == "mcp"
    key = ApiKey.objects.get()
    assert key.last_used_at is not None
    assert key.last_used_from == "127.0.0.1"


def test_refusals_reach_the_sdk_client_as_tool_errors(
    live_mcp: str, scanned: ScannedEstate, alice_key: str
) -> None:
    async def use(session: ClientSession) -> list[Any]:
        return [
            await session.call_tool("check_tag_compliance", {"account_id": ACCOUNT}),
            await session.call_tool("check_tag_compliance", {"account_ids": ["210987654321"]}),
            await session.call_tool("no_such_tool", {}),
        ]

    unknown_field, other_account, unknown_tool = with_session(live_mcp, alice_key, use)
    assert unknown_field.is_error
    assert "account_id: unknown field" in unknown_field.content[0].text
    assert other_account.is_error
    assert "not found or not visible to you: 210987654321" in other_account.content[0].text
    assert unknown_tool.is_error
    assert "unknown tool 'no_such_tool'" in unknown_tool.content[0].text
    denied = AuditEvent.objects.filter(event_type="mcp.denied").order_by("id")
    assert [e.target for e in denied] == [
        "check_tag_compliance",
        "check_tag_compliance",
        "no_such_tool",
    ]
