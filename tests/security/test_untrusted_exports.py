"""Every file the product writes with text from AWS carries the injection corpus inertly.

The corpus is ``tests/security/injection_payloads.py`` plus payloads aimed at one format
(spreadsheet formulas, CSV quoting, YAML documents, bare links). Each export is parsed back with
the library made for its format (``csv``, ``json``, ``yaml.safe_load``, a CommonMark parser) and
must keep its structure: one row per violation, no new line, cell, link, image, HTML or formula,
and the text itself still there, with its hidden characters shown as ``⟨U+200B⟩`` markers
where the format is read by people.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone
from markdown_it import MarkdownIt
from markdown_it.token import Token

from compliance.core.policy import INVALID_FORMAT, PolicyError
from compliance.core.policy.model import check_tag_name
from compliance.core.untrusted import has_hidden_characters, reveal
from compliance.models import AwsAccount, Resource, Scan, TaggingPolicy, Violation
from compliance.permissions.accounts import Operator
from compliance.reads import exports, reports
from compliance.writes.policy import do_import_policy
from tests.security.injection_payloads import PAYLOADS

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"

#: Payloads aimed at one export format, beside the shared corpus.
FORMAT_PAYLOADS: tuple[tuple[str, str], ...] = (
    ("dde_calc", "=cmd|' /C calc'!A0"),
    ("at_sum", "@SUM(1+1)"),
    ("plus_one", "+1"),
    ("minus_one", "-1"),
    ("tab_minus_one", "\t-1"),
    ("spaces_then_formula", "  =1+1"),
    ("cr_then_formula", "\r=1+1"),
    ("lf_then_formula", "\n=1+1"),
    ("crlf_new_row", "a\r\nb,c,d,e"),
    ("quotes_and_commas", "say \"hi\", then 'bye'"),
    ("csv_quote_escape", 'x","=1+1\n"y'),
    ("vertical_tab_form_feed", "a\x0bb\x0cc"),
    ("next_line", "a\x85b"),
    ("angle_autolink", "<https://attacker.example>"),
    ("bare_url", "see https://attacker.example/x"),
    ("www_link", "www.attacker.example"),
    ("reference_definition", "[x]: https://attacker.example"),
    ("html_entities", "&lt;script&gt;&#60;b&#62;"),
    ("pipes_and_backslashes", "a\\|b|c\\"),
    ("yaml_new_document", "x\n---\n!!python/object/apply:os.system ['id']"),
    ("yaml_comment_then_item", "# c\n- name: injected"),
    ("code_spans", "`code` ``x``"),
    ("emphasis", "**bold** _it_ ~~gone~~"),
)
CORPUS: tuple[tuple[str, str], ...] = (
    *((payload.name, payload.text) for payload in PAYLOADS),
    *FORMAT_PAYLOADS,
)
FORMULA_STARTS = ("=", "+", "-", "@")


def storable(text: str) -> str:
    """The text as a violation row holds it: at most a tag value's 256 characters, and on
    PostgreSQL (whose text cannot hold NUL) with NUL as U+FFFD."""
    text = text[:256]
    if connection.vendor == "postgresql":
        text = text.replace("\x00", "\ufffd")
    return text


@pytest.fixture
def hostile(db: None) -> list[tuple[str, str]]:
    """One log group per payload, named and tagged with it, with one violation carrying it.

    The ARN starts with the payload's zero-padded index, so every export lists the rows in
    corpus order. Returns (name, stored text) per row.
    """
    now = timezone.now()
    policy_row = TaggingPolicy.objects.create(
        version=1,
        source_format="mcp_json",
        document={"required_tags": [{"name": "Owner", "validation_regex": "^x$"}]},
        source_text="{}",
        is_active=True,
    )
    scan = Scan.objects.create(status=Scan.Status.COMPLETE, policy=policy_row, finished_at=now)
    account = AwsAccount.objects.create(account_id=ACCOUNT, name="prod")
    stored: list[tuple[str, str]] = []
    for index, (name, text) in enumerate(CORPUS):
        value = storable(text)
        resource = Resource.objects.create(
            arn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{index:03d}-{value}",
            account=account,
            region="us-east-1",
            resource_type="logs:log-group",
            name=value,
            tags={"Owner": value},
            first_seen_at=now,
            last_seen_at=now,
            last_seen_scan=scan,
            is_compliant=False,
            violation_count=1,
        )
        Violation.objects.create(
            resource=resource,
            scan=scan,
            policy=policy_row,
            violation_type=INVALID_FORMAT,
            tag_name="Owner",
            current_value=value,
            expected="matches ^x$",
            first_detected_at=now,
        )
        stored.append((name, value))
    return stored


def inert_cell_problem(cell: str, original: str) -> str | None:
    """Why a CSV cell is not the inert form of ``original`` (None: it is)."""
    if has_hidden_characters(cell):
        return "holds a hidden or line-break character"
    body = cell[1:] if cell.startswith("'") else cell
    if cell.startswith("'") != reveal(original).lstrip(" ").startswith(FORMULA_STARTS):
        return "formula guard missing or misplaced"
    if body != reveal(original):
        return f"text changed: {body!r}"
    return None


def problems_in_csv(
    text: str, rows_expected: int, cells: list[tuple[str, str, str]]
) -> dict[str, str]:
    """Problems per payload name; ``cells`` are (payload name, column, original text)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    found: dict[str, str] = {}
    if len(rows) != rows_expected:
        found["rows"] = f"{len(rows)} rows instead of {rows_expected}"
    if text.count("\n") != rows_expected + 1:
        found["lines"] = f"{text.count(chr(10))} lines instead of {rows_expected + 1}"
    for index, (name, column, original) in enumerate(cells):
        problem = inert_cell_problem(rows[index][column], original)
        if problem is not None:
            found[f"{name}.{column}"] = problem
    return found


def test_the_corpus_is_large_and_carries_every_hostile_kind() -> None:
    texts = [text for _, text in CORPUS]
    assert len(CORPUS) >= 60
    assert any(has_hidden_characters(text) for text in texts)
    assert any(text.startswith(FORMULA_STARTS) for text in texts)
    assert any(mark in text for text in texts for mark in ("<script", "](", "\r", "\u2028"))


def test_report_csv_keeps_one_row_per_violation_and_neutralises_every_cell(
    hostile: list[tuple[str, str]],
) -> None:
    text = reports.render_csv(reports.build_report(Operator()))
    cells = [(name, "current_value", value) for name, value in hostile]
    assert problems_in_csv(text, len(hostile), cells) == {}


def test_violations_csv_export_keeps_one_row_per_violation_and_neutralises_every_cell(
    hostile: list[tuple[str, str]],
) -> None:
    text = exports.export_violations_csv(Operator(), columns=["resource_arn", "current_value"])
    cells = [(name, "current_value", value) for name, value in hostile]
    assert problems_in_csv(text, len(hostile), cells) == {}
    arns = [row["resource_arn"] for row in csv.DictReader(io.StringIO(text))]
    assert [has_hidden_characters(arn) for arn in arns] == [False] * len(hostile)


def test_dashboard_resources_csv_neutralises_names(
    hostile: list[tuple[str, str]], charlie: User
) -> None:
    client = Client()
    client.force_login(charlie)
    response = client.get("/resources/export.csv", {"sort": "arn"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(text)))
    by_arn = sorted(rows, key=lambda row: row["arn"])
    cells = [(name, "name", value) for name, value in hostile]
    found = {
        name: problem
        for (name, _, value), row in zip(cells, by_arn, strict=True)
        if (problem := inert_cell_problem(row["name"], value)) is not None
    }
    assert (len(rows), text.count("\n"), found) == (len(hostile), len(hostile) + 1, {})


def test_report_json_round_trips_every_value_exactly_in_ascii(
    hostile: list[tuple[str, str]],
) -> None:
    text = reports.render_json(reports.build_report(Operator()))
    report = json.loads(text)
    assert [row["current_value"] for row in report["violations"]] == [v for _, v in hostile]
    # Every non-ASCII character, hidden ones included, is a visible \\u escape.
    assert text.isascii()


def tokens_of(markdown: str) -> list[Token]:
    """Every token of the CommonMark (plus tables) parse, inline children included."""
    parser = MarkdownIt("commonmark").enable("table")
    flat: list[Token] = []
    for token in parser.parse(markdown):
        flat.append(token)
        flat.extend(token.children or ())
    return flat


def table_rows(tokens: list[Token]) -> list[list[str]]:
    """The rows of the last table (the violations), each as its cells' rendered text."""
    start = max(i for i, token in enumerate(tokens) if token.type == "table_open")
    rows: list[list[str]] = []
    for token in tokens[start:]:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(
                "".join(
                    child.content
                    for child in token.children or ()
                    if child.type in ("text", "text_special")
                )
            )
        elif token.type == "table_close":
            break
    return rows


def test_markdown_report_opens_no_html_link_image_or_row(hostile: list[tuple[str, str]]) -> None:
    markdown = reports.render_markdown(reports.build_report(Operator()), top=len(hostile))
    tokens = tokens_of(markdown)
    kinds = {token.type for token in tokens}
    assert kinds & {"link_open", "image", "html_inline", "html_block"} == set()
    # Our own text has code spans (`manage.py import_costs`); the violations table has none.
    table = tokens[max(i for i, token in enumerate(tokens) if token.type == "table_open") :]
    in_table = {token.type for token in table}
    assert in_table & {"code_inline", "em_open", "strong_open", "softbreak", "hardbreak"} == set()
    rows = table_rows(tokens)
    # The header row, then one row per violation, each of the table's five cells.
    assert len(rows) == len(hostile) + 1
    assert {len(row) for row in rows} == {5}
    # Bare links are escaped for renderers with GitHub's autolink extension too.
    assert ("<" in markdown, "](" in markdown) == (False, False)
    assert re.search(r"(?<!\\)://|(?i:\bwww\.)", markdown) is None


def test_markdown_report_still_shows_each_value_with_hidden_characters_revealed(
    hostile: list[tuple[str, str]],
) -> None:
    markdown = reports.render_markdown(reports.build_report(Operator()), top=len(hostile))
    rows = table_rows(tokens_of(markdown))[1:]
    shown = [row[3] for row in rows]
    # Leading spaces are kept (as entities: never a code block), trailing ones trimmed.
    assert shown == [reveal(value).rstrip(" ") for _, value in hostile]


def policy_names() -> list[str]:
    """The corpus texts a policy accepts as tag names, each once in any letter case.

    NUL is left out: no AWS tag key holds one, and PostgreSQL cannot store it in the policy's
    JSON document.
    """
    names: dict[str, str] = {}
    for _, text in CORPUS:
        candidate = text[:128].strip().replace("\x00", "")
        try:
            check_tag_name(candidate, "name")
        except PolicyError:
            continue
        names.setdefault(candidate.casefold(), candidate)
    return list(names.values())


@pytest.fixture
def hostile_policy(hostile: list[tuple[str, str]]) -> list[str]:
    """The corpus as the active policy's required tag names, and a resource of an unknown
    type named to break out of a YAML comment."""
    names = policy_names()
    document = {"required_tags": [{"name": name} for name in names]}
    do_import_policy(json.dumps(document), acting=Operator())
    resource = Resource.objects.first()
    assert resource is not None
    breaking = "x:y\n- name: injected\u2028policies: []\x85#"
    Resource.objects.filter(pk=resource.pk).update(resource_type=breaking[:64])
    return names


def test_custodian_yaml_parses_back_to_exactly_the_policy_names(hostile_policy: list[str]) -> None:
    text = exports.custodian_policy(Operator())
    header = text.split("policies:", 1)[0]
    assert all(line.startswith("#") for line in header.splitlines())
    assert "⟨U+000A⟩- name: injected⟨U+2028⟩" in header
    document: dict[str, Any] = yaml.safe_load(text)
    [policy] = document["policies"]
    keys = [next(iter(filter_)) for filter_ in policy["filters"][0]["or"]]
    assert (policy["resource"], keys) == (
        "aws.log-group",
        [f"tag:{name}" for name in hostile_policy],
    )
    assert not has_hidden_characters(text.replace("\n", ""))


def test_aws_org_policy_json_parses_back_to_exactly_the_policy_names(
    hostile_policy: list[str],
) -> None:
    text = exports.aws_org_policy(Operator())
    document: dict[str, Any] = json.loads(text)
    assigned = [entry["tag_key"]["@@assign"] for entry in document["tags"].values()]
    assert sorted(assigned) == sorted(hostile_policy)
    assert text.isascii()
