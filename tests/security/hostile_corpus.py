# ruff: noqa: RUF001 (the corpus is made of look-alike characters on purpose)
"""The hostile corpus: requests an attacker sends to the real server, and what each must get.

Every request, whatever it is, must get no 5xx, change no state (every table but the audit log
and the sessions is digested before and after), leak no trace and no other account's data, and
make the server call no address it was handed. On top of that each case says what it expects:

- ``refused``: ``True`` (a 4xx, a JSON-RPC error or a tool error; for sign-in, the form shown
  again), ``False`` (answered), or ``None`` (either is right: odd but harmless input);
- ``audited``: the audit event types of which one must record the refusal (denied or error),
  for the refusals that matter to security: failed credentials, permission refusals, refused
  input on ``/mcp``, CSRF failures, OAuth client and grant failures. Empty: the refusal need
  not be audited;
- ``answered_events``: the success events an answer may write (a tool call, an export).

The audit log grows by exactly those rows: any other new row fails the case.

Cases are built from the live ``tools/list`` (so every tool and every argument of the published
schema is covered as it is published), the seeded facts and the port of the listening socket
that no request may make the server call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from tests.security.conftest import OTHER_ACCOUNT, OTHER_ARN, OWN_ARN, UNREGISTERED_ACCOUNT
from tests.security.injection_payloads import PAYLOADS

MCP_REFUSALS = frozenset({"mcp.denied", "auth.failed"})
MCP_ANSWERS = frozenset({"mcp.call", "report.generated", "export.violations", "export.custodian"})
PERMISSION = frozenset({"auth.permission_denied"})
#: A scan refused by its write (accounts out of reach) is audited as the refused request.
SCAN_REFUSALS = MCP_REFUSALS | {"scan.requested"}
ADMIN_REFUSALS = frozenset({"auth.admin_refused", "auth.permission_denied"})
#: What an admin form's write audits when it refuses the form's content.
ADMIN_FORM_REFUSALS = frozenset(
    {
        "policy.rejected",
        "account.added",
        "access.granted",
        "exemption.created",
        "checklist.attested",
    }
)
CSRF = frozenset({"csrf.failed"})
LOGIN_FAILED = frozenset({"auth.login_failed"})
#: Refused by the middleware before any view: a NUL byte, an oversized field.
REQUEST_REFUSED = frozenset({"request.refused"})
#: An OAuth client or grant refused: which event names it is the authorization server's choice.
OAUTH_REFUSALS = frozenset(
    {"auth.oauth_refused", "auth.failed", "auth.login_failed", "request.refused", "mcp.denied"}
)
EXPORTS = frozenset({"export.resources", "export.policy", "export.violations"})
MCP_BODY_LIMIT = 65536


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: Signed-in browser of this person (``alice`` analyst, ``bob`` viewer, ``charlie``
    #: admin), or anonymous.
    as_user: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    form: Mapping[str, str] | None = None
    #: Add the session's valid CSRF token to the form.
    csrf: bool = False
    #: Follow redirects, as a browser does (the admin answers a stranger on its login URL).
    follow: bool = False

    def summary(self) -> str:
        body = self.content if self.content is not None else self.form
        text = repr(body)
        return (
            f"{self.method} {self.path[:160]} as={self.as_user} "
            f"headers={dict(self.headers)!r:.200} body={text[:300]}"
        )


@dataclass(frozen=True)
class Case:
    id: str
    area: str
    request: Request
    refused: bool | None
    audited: frozenset[str] = frozenset()
    answered_events: frozenset[str] = frozenset()
    #: Tables the request may legitimately change (a client registering itself).
    may_change: frozenset[str] = frozenset()
    #: Statuses the case must answer with, when the expected status is fixed.
    statuses: frozenset[int] | None = None
    #: Event types a refusal may also be audited as, without the case requiring it.
    may_audit: frozenset[str] = frozenset()
    #: Refusal statuses that must be audited (``None``: every refusal). A page may refuse a
    #: nonsensical filter (400, not a security matter) or a role (403, audited).
    audit_when: frozenset[int] | None = None


@dataclass(frozen=True)
class Facts:
    keys: dict[str, str]
    own_resource: int
    other_resource: int
    scan: int
    oauth_client_id: str
    oauth_redirect_uri: str
    listener_port: int


# --- shared hostile strings -------------------------------------------------------------------

WEB_PAYLOADS: tuple[tuple[str, str], ...] = (
    ("sql_quote", "' OR 1=1 --"),
    ("sql_drop", '"; DROP TABLE compliance_resource; --'),
    ("script", "<script>alert(1)</script>"),
    ("img_onerror", '"><img src=x onerror=alert(1)>'),
    ("traversal", "../../../../etc/passwd"),
    ("template", "{{ settings.SECRET_KEY }}{% debug %}"),
    ("nul", "a\x00b"),
    ("crlf", "x\r\nSet-Cookie: sessionid=forged"),
    ("very_long", "A" * 5000),
    ("rtl_override", "\u202eevil\u202c"),
    ("zero_width", "Own\u200ber"),
    ("homoglyph", "Оwner"),
    ("json_operator", '{"$gt": ""}'),
    ("huge_number", "99999999999999999999999999"),
    ("negative", "-1"),
    ("percent_encoded", "%00%2e%2e%2f"),
    ("formula", '=HYPERLINK("http://evil.example")'),
    ("lone_surrogate_escaped", "\\ud800"),
    ("emoji", "💸🏷️"),
)

#: Text a tagger writes to steer an assistant (tests/security/injection_payloads.py), and the
#: web payloads above: every string argument of every tool gets some of each.
STRING_PAYLOADS: tuple[tuple[str, str], ...] = (
    *((p.name, p.text) for p in PAYLOADS),
    *WEB_PAYLOADS,
)


def _payloads(start: int, count: int) -> list[tuple[str, str]]:
    """``count`` payloads from ``start``, wrapping: successive arguments get successive
    slices, so the whole list is sent without every argument getting every payload."""
    size = len(STRING_PAYLOADS)
    return [STRING_PAYLOADS[(start + i) % size] for i in range(count)]


# --- /mcp -------------------------------------------------------------------------------------

MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2025-06-18",
}


def rpc(method: Any, params: Any = None, ident: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(name: Any, arguments: Any = None) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": {} if arguments is None else arguments})


def _mcp(
    case_id: str,
    body: Any,
    key: str | None,
    *,
    refused: bool | None = True,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    audited: frozenset[str] = MCP_REFUSALS,
    statuses: frozenset[int] | None = None,
) -> Case:
    """A request to ``/mcp`` with the headers an MCP client sends (``None`` drops one)."""
    if isinstance(body, bytes):
        content = body
    elif isinstance(body, str):
        content = body.encode("utf-8", "surrogatepass")
    else:
        content = json.dumps(body).encode()
    sent = dict(MCP_HEADERS)
    if key is not None:
        sent["authorization"] = f"Bearer {key}".strip()
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    return Case(
        id=f"mcp/{case_id}",
        area="mcp",
        request=Request(method, "/mcp", headers=sent, content=content),
        refused=refused,
        audited=audited if refused is not False else frozenset(),
        answered_events=MCP_ANSWERS,
        statuses=statuses,
    )


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


GOOD = json.dumps(tool_call("list_scans"))
MALFORMED: tuple[tuple[str, str | bytes], ...] = (
    ("empty_body", b""),
    ("truncated", GOOD[: len(GOOD) // 2]),
    ("trailing_garbage", GOOD + "}}"),
    ("two_messages", GOOD + GOOD),
    ("single_quotes", GOOD.replace('"', "'")),
    ("nan_id", '{"jsonrpc": "2.0", "id": NaN, "method": "tools/list"}'),
    ("invalid_utf8", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/\xff\xfe"}'),
    ("lone_surrogate", '{"jsonrpc": "2.0", "id": 1, "method": "tools/list\\ud800"}'),
    ("utf16_bom", "\ufeff" + GOOD),
    ("nul_bytes", b"\x00" * 64),
    ("xml", b"<?xml version='1.0'?><methodCall/>"),
    ("json_null", "null"),
    ("json_number", "1"),
    ("batch", json.dumps([rpc("tools/list"), tool_call("list_scans")])),
    ("empty_batch", "[]"),
    ("missing_jsonrpc", json.dumps({"id": 1, "method": "tools/list"})),
    ("jsonrpc_1_0", json.dumps({"jsonrpc": "1.0", "id": 1, "method": "tools/list"})),
    ("missing_method", json.dumps({"jsonrpc": "2.0", "id": 1})),
    ("method_int", json.dumps(rpc(5))),
    ("method_list", json.dumps(rpc(["tools/list"]))),
    ("id_object", json.dumps(rpc("tools/list", ident={"a": 1}))),
    ("id_bool", json.dumps(rpc("tools/list", ident=True))),
    ("params_list", json.dumps(rpc("tools/call", ["list_scans"]))),
    ("params_string", json.dumps(rpc("tools/call", "list_scans"))),
    ("unknown_method", json.dumps(rpc("admin/shutdown"))),
    ("method_sql", json.dumps(rpc("tools/list'; DROP TABLE compliance_auditevent;--"))),
    ("duplicate_keys", '{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "method": "x/y"}'),
)
UNKNOWN_TOOLS: tuple[tuple[str, Any], ...] = (
    ("unknown", "drop_everything"),
    ("traversal", "../../etc/passwd"),
    ("template", "{{ settings.SECRET_KEY }}"),
    ("nul", "list_scans\u0000"),
    ("rtl", "\u202esnacs_tsil"),
    ("overlong", "t" * 20_000),
    ("upper_case", "LIST_SCANS"),
    ("homoglyph", "list_scаns"),
    ("int", 5),
    ("null", None),
    ("dunder", "__class__"),
)


def mcp_protocol_cases(facts: Facts) -> Iterator[Case]:
    key = facts.keys["alice"]
    for name, body in MALFORMED:
        yield _mcp(f"malformed/{name}", body, key)
    for name, tool in UNKNOWN_TOOLS:
        yield _mcp(f"unknown_tool/{name}", tool_call(tool), key)
    too_big = frozenset({413})
    yield _mcp(
        "oversize/body",
        tool_call("list_scans", {"cursor": "x" * (MCP_BODY_LIMIT + 1)}),
        key,
        statuses=too_big,
    )
    yield _mcp("oversize/array", tool_call("list_scans", {"junk": [0] * 40_000}), key)
    yield _mcp("oversize/one_megabyte", b" " * 1_048_576 + GOOD.encode(), key, statuses=too_big)
    yield _mcp("deep/25", tool_call("list_scans", _nested(25)), key)
    yield _mcp(
        "deep/5000",
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
        + '{"a": ' * 5000
        + "1"
        + "}" * 5001,
        key,
    )
    yield _mcp("deep/lists", tool_call("list_scans", {"a": json.loads("[" * 100 + "]" * 100)}), key)
    yield _mcp("wide/keys", tool_call("list_scans", {f"k{i}": i for i in range(1200)}), key)
    content_types = {
        "text_plain": {"content-type": "text/plain"},
        "form": {"content-type": "application/x-www-form-urlencoded"},
        "multipart": {"content-type": "multipart/form-data; boundary=x"},
        "xml": {"content-type": "application/xml"},
        "no_accept": {"accept": "text/html"},
    }
    for name, headers in content_types.items():
        yield _mcp(f"content_type/{name}", tool_call("list_scans"), key, headers=headers)
    for method in ("PUT", "DELETE", "PATCH"):
        yield _mcp(f"method/{method}", b"", key, method=method)
    # GET opens Streamable HTTP's server-to-client stream: MCP clients send it as a matter of
    # course after initialising, so the 405 of a stateless server is protocol, not a refusal
    # worth an audit row (mcp_endpoint/http/jsonrpc_errors.py).
    yield _mcp("method/GET", b"", key, method="GET", audited=frozenset())
    yield _mcp(
        "protocol_version/unknown",
        tool_call("list_scans"),
        key,
        headers={"mcp-protocol-version": "1999-01-01"},
    )
    for name, origin in (
        ("evil", "https://evil.example"),
        ("null", "null"),
        ("lookalike", "http://127.0.0.1.evil.example"),
    ):
        yield _mcp(f"origin/{name}", tool_call("list_scans"), key, headers={"origin": origin})
    for name, host in (("rebind", "rebind.example"), ("userinfo", "127.0.0.1@evil.example")):
        yield _mcp(f"host/{name}", tool_call("list_scans"), key, headers={"host": host})
    yield from _credential_cases(facts)


def _credential_cases(facts: Facts) -> Iterator[Case]:
    alice = facts.keys["alice"]
    unauthorized = frozenset({401})
    bad: dict[str, str | None] = {
        "missing": None,
        "empty": "",
        "not_a_key": "not-a-key",
        "sql": "' OR 1=1 --",
        "overlong": "ftc_abcdefgh_" + "x" * 5000,
        "unknown_prefix": "ftc_abcdefgh_" + "x" * 43,
        "wrong_secret": alice[:13] + "y" * 43,
        "truncated": alice[:-1],
        "expired": facts.keys["expired"],
        "revoked": facts.keys["revoked"],
        "inactive_user": facts.keys["inactive_user"],
        "jwt_none_alg": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    }
    for name, presented in bad.items():
        yield _mcp(f"key/{name}", tool_call("list_scans"), presented, statuses=unauthorized)
    yield _mcp(
        "key/basic_scheme",
        tool_call("list_scans"),
        None,
        headers={"authorization": "Basic " + base64.b64encode(b"alice:x").decode()},
        statuses=unauthorized,
    )
    yield _mcp(
        "key/other_header",
        tool_call("list_scans"),
        None,
        headers={"x-api-key": alice},
        statuses=unauthorized,
    )
    yield _mcp(
        "key/read_only_starts_scan",
        tool_call("start_scan"),
        facts.keys["alice_read"],
        statuses=frozenset({403}),
    )


#: Per published JSON type, values of another type that a lenient parser would coerce: the
#: ones seen accepted before (``"1"`` and ``true`` for an integer, ``"yes"`` for a boolean).
WRONG_TYPES: dict[str, tuple[tuple[str, Any], ...]] = {
    "integer": (("string_number", "1"), ("bool", True), ("float", 1.5)),
    "number": (("string_number", "1"), ("bool", True)),
    "boolean": (("string_yes", "yes"), ("number", 1)),
    "string": (("number", 7), ("list", ["x"])),
    "array": (("string", "x"), ("object", {"a": 1})),
    "object": (("list", [1]), ("string", "x")),
}


def _wrong_types(schema: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Values of another JSON type than the property's published one."""
    kinds = _types(schema)
    wrong: list[tuple[str, Any]] = []
    for kind in sorted(kinds):
        for label, value in WRONG_TYPES.get(kind, ()):
            if _json_type(value) not in kinds and (label, value) not in wrong:
                wrong.append((label, value))
    return wrong


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(schema: Mapping[str, Any]) -> set[str]:
    if "anyOf" in schema:
        return set().union(*(_types(option) for option in schema["anyOf"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if isinstance(kind, str) else set()


def _string_slots(schema: Mapping[str, Any]) -> str | None:
    """``"string"`` or ``"array"`` (of strings) when a hostile string fits the property."""
    kinds = _types(schema)
    if "string" in kinds:
        return "string"
    if "array" in kinds:
        return "array"
    if "object" in kinds:
        return "object"
    return None


def mcp_argument_cases(facts: Facts, tools: list[dict[str, Any]]) -> Iterator[Case]:
    """Every argument of every published tool: values of the wrong JSON type (refused, as the
    schema an assistant reads says), and hostile strings (answered or refused, never obeyed)."""
    key = facts.keys["alice"]
    start = 0
    for tool in tools:
        name = tool["name"]
        properties: dict[str, Any] = tool["inputSchema"].get("properties", {})
        yield _mcp(f"args/{name}/unknown_argument", tool_call(name, {"sudo": True}), key)
        yield _mcp(f"args/{name}/arguments_list", tool_call(name, ["x"]), key)
        for prop, schema in properties.items():
            for label, wrong in _wrong_types(schema):
                yield _mcp(f"types/{name}/{prop}/{label}", tool_call(name, {prop: wrong}), key)
            slot = _string_slots(schema)
            if slot is None:
                continue
            for label, text in _payloads(start, 2):
                value: Any = (
                    text if slot == "string" else [text] if slot == "array" else {text: text}
                )
                yield _mcp(
                    f"strings/{name}/{prop}/{label}",
                    tool_call(name, {prop: value}),
                    key,
                    refused=None,
                )
            start += 2


def mcp_scope_cases(facts: Facts, tools: list[dict[str, Any]]) -> Iterator[Case]:
    """Another account's ids and resources, tampered cursors, and a scan of what one may not
    see: refused (audited) or answered without the other account's data."""
    key = facts.keys["alice"]
    names = {tool["name"] for tool in tools}
    if "check_tag_compliance" in names:
        for account in (OTHER_ACCOUNT, UNREGISTERED_ACCOUNT):
            yield _mcp(
                f"scope/compliance_of/{account}",
                tool_call("check_tag_compliance", {"account_ids": [account]}),
                key,
                refused=None,
            )
    for tool in ("validate_resource_tags", "suggest_tags"):
        if tool in names:
            yield _mcp(
                f"scope/{tool}/other_account_arn",
                tool_call(tool, {"resource_arn": OTHER_ARN}),
                key,
                refused=None,
            )
            yield _mcp(
                f"scope/{tool}/arn_suffix_wildcard",
                tool_call(tool, {"resource_arn": OWN_ARN.rsplit(":", 2)[0] + ":*"}),
                key,
                refused=None,
            )
    if "start_scan" in names:
        yield _mcp(
            "scope/start_scan/other_account",
            tool_call("start_scan", {"account_ids": [OTHER_ACCOUNT]}),
            key,
            audited=SCAN_REFUSALS,
        )
        yield _mcp(
            "scope/start_scan/unregistered_account",
            tool_call("start_scan", {"account_ids": [UNREGISTERED_ACCOUNT]}),
            key,
            audited=SCAN_REFUSALS,
        )
    forged = {
        "not_base64": "!!!not-a-cursor!!!",
        "base64_json_other_account": base64.urlsafe_b64encode(
            json.dumps({"account_ids": [OTHER_ACCOUNT], "after": 0}).encode()
        ).decode(),
        "base64_offset": base64.urlsafe_b64encode(b'{"offset": -1000}').decode(),
        "padding_only": "====",
        "max_length": "A" * 1024,
        "sql": "1' OR '1'='1",
        "nul": "abc\u0000def",
    }
    for tool in ("check_tag_compliance", "list_scans", "detect_tag_drift"):
        if tool not in names:
            continue
        for label, cursor in forged.items():
            yield _mcp(f"cursor/{tool}/{label}", tool_call(tool, {"cursor": cursor}), key)


# --- OAuth ------------------------------------------------------------------------------------

#: Spellings of internal addresses; ``{port}`` is the listening socket's port on loopback.
INTERNAL_HOSTS: tuple[tuple[str, str], ...] = (
    ("loopback", "127.0.0.1:{port}"),
    ("localhost", "localhost:{port}"),
    ("ipv6_loopback", "[::1]:{port}"),
    ("decimal", "2130706433:{port}"),
    ("octal", "0177.0.0.1:{port}"),
    ("hex", "0x7f.0.0.1:{port}"),
    ("short", "127.1:{port}"),
    ("zero", "0.0.0.0:{port}"),
    ("mapped_ipv6", "[::ffff:127.0.0.1]:{port}"),
    ("userinfo", "evil.example@127.0.0.1:{port}"),
    ("private_10", "10.0.0.1"),
    ("private_192", "192.168.0.1"),
    ("metadata", "169.254.169.254"),
    ("link_local_v6", "[fe80::1]"),
)


def _internal_urls(port: int, scheme: str, path: str) -> Iterator[tuple[str, str]]:
    for name, host in INTERNAL_HOSTS:
        yield name, f"{scheme}://{host.format(port=port)}{path}"


def _oauth(
    case_id: str,
    request: Request,
    *,
    refused: bool | None = True,
    audited: frozenset[str] = frozenset(),
    may_change: frozenset[str] = frozenset(),
    statuses: frozenset[int] | None = None,
) -> Case:
    return Case(
        id=f"oauth/{case_id}",
        area="oauth",
        request=request,
        refused=refused,
        audited=audited,
        may_audit=OAUTH_REFUSALS | CSRF,
        may_change=may_change,
        statuses=statuses,
    )


FORM = {"content-type": "application/x-www-form-urlencoded"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {**FORM, "authorization": "Basic " + base64.b64encode(raw).decode()}


def oauth_cases(facts: Facts) -> Iterator[Case]:
    client_id, redirect = facts.oauth_client_id, facts.oauth_redirect_uri
    port = facts.listener_port
    authorize = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect,
        "scope": "read",
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    bad_authorize: dict[str, dict[str, str]] = {
        "unknown_client": {"client_id": "no-such-client"},
        "foreign_redirect": {"redirect_uri": "https://evil.example/cb"},
        "javascript_redirect": {"redirect_uri": "javascript:alert(1)"},
        "redirect_with_crlf": {"redirect_uri": redirect + "\r\nLocation: https://evil.example"},
        "implicit_token": {"response_type": "token"},
        "implicit_id_token": {"response_type": "id_token"},
        "pkce_plain": {"code_challenge_method": "plain", "code_challenge": "x" * 43},
        "unknown_scope": {"scope": "admin read"},
        "huge_state": {"state": "s" * 20_000},
        "nul_in_client_id": {"client_id": client_id + "\x00"},
        "resource_foreign": {"resource": "https://evil.example/mcp"},
    }
    for as_user in (None, "alice"):
        who = as_user or "anonymous"
        for name, change in bad_authorize.items():
            query = urlencode({**authorize, **change})
            yield _oauth(
                f"authorize/{who}/{name}",
                Request("GET", f"/identity/o/authorize?{query}", as_user=as_user),
                refused=None,
            )
    # Client ID metadata documents: URLs of internal hosts are never fetched.
    for name, url in _internal_urls(port, "https", "/client.json"):
        query = urlencode({**authorize, "client_id": url})
        yield _oauth(
            f"cimd/authorize/{name}",
            Request("GET", f"/identity/o/authorize?{query}", as_user="alice"),
        )
    for name, url in _internal_urls(port, "http", "/client.json"):
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": "x",
                "client_id": url,
                "redirect_uri": redirect,
                "code_verifier": "v" * 43,
            }
        )
        yield _oauth(
            f"cimd/token/{name}",
            Request("POST", "/identity/o/api/token", headers=FORM, content=body.encode()),
            audited=OAUTH_REFUSALS,
        )
    yield from _token_cases(facts)
    yield from _registration_cases(facts)
    for name, headers in {
        "no_token": {},
        "garbage": {"authorization": "Bearer garbage"},
        "api_key_as_token": {"authorization": f"Bearer {facts.keys['alice']}"},
        "jwt_none": {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."},
    }.items():
        yield _oauth(
            f"userinfo/{name}",
            Request("GET", "/identity/o/api/userinfo", headers=headers),
            audited=OAUTH_REFUSALS if headers else frozenset(),
            statuses=frozenset({401}),
        )
    for path in (
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/jwks.json",
    ):
        for name, headers in {
            "forwarded_host": {"x-forwarded-host": "evil.example"},
            "forwarded_proto": {"x-forwarded-proto": "https"},
        }.items():
            yield _oauth(
                f"metadata{path}/{name}",
                Request("GET", path, headers=headers),
                refused=False,
            )
        yield _oauth(
            f"metadata{path}/post",
            Request("POST", path, headers=FORM, content=b"a=b"),
            audited=CSRF,
        )


def _token_cases(facts: Facts) -> Iterator[Case]:
    client_id, redirect = facts.oauth_client_id, facts.oauth_redirect_uri
    token = "/identity/o/api/token"
    grant = {
        "grant_type": "authorization_code",
        "code": "forged-code",
        "redirect_uri": redirect,
        "code_verifier": "v" * 43,
    }
    forms: dict[str, tuple[dict[str, str], dict[str, str], frozenset[str]]] = {
        "forged_code_basic": (grant, _basic(client_id, "wrong-secret"), OAUTH_REFUSALS),
        "forged_code_post": (
            {**grant, "client_id": client_id, "client_secret": "wrong"},
            FORM,
            OAUTH_REFUSALS,
        ),
        "unknown_client": ({**grant, "client_id": "nobody"}, FORM, OAUTH_REFUSALS),
        "basic_without_body_client_id": (grant, _basic("nobody", "x"), OAUTH_REFUSALS),
        "client_credentials": (
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"},
            FORM,
            OAUTH_REFUSALS,
        ),
        "password_grant": (
            {
                "grant_type": "password",
                "username": "alice",
                "password": "alice-password-123",
                "client_id": client_id,
            },
            FORM,
            frozenset(),
        ),
        "refresh_forged": (
            {"grant_type": "refresh_token", "refresh_token": "forged", "client_id": client_id},
            FORM,
            OAUTH_REFUSALS,
        ),
        "device_code_forged": (
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": "forged",
                "client_id": client_id,
            },
            FORM,
            OAUTH_REFUSALS,
        ),
        "unknown_grant": ({"grant_type": "../../etc/passwd"}, FORM, frozenset()),
        "no_grant": ({}, FORM, frozenset()),
        "sql_code": (
            {**grant, "code": "' OR 1=1 --", "client_id": client_id},
            FORM,
            OAUTH_REFUSALS,
        ),
        "nul_code": ({**grant, "code": "a\x00b", "client_id": client_id}, FORM, OAUTH_REFUSALS),
    }
    for name, (body, headers, audited) in forms.items():
        yield _oauth(
            f"token/{name}",
            Request("POST", token, headers=headers, content=urlencode(body).encode()),
            audited=audited,
        )
    raw_bodies: dict[str, tuple[dict[str, str], bytes]] = {
        "json_body": ({"content-type": "application/json"}, json.dumps(grant).encode()),
        "huge_body": (FORM, b"grant_type=authorization_code&code=" + b"x" * 3_000_000),
        "invalid_utf8": (FORM, b"grant_type=authorization_code&code=\xff\xfe"),
        "basic_not_base64": (
            {**FORM, "authorization": "Basic %%%not-base64%%%"},
            urlencode(grant).encode(),
        ),
        "basic_no_colon": (
            {**FORM, "authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
            urlencode(grant).encode(),
        ),
    }
    for name, (headers, content) in raw_bodies.items():
        yield _oauth(f"token/{name}", Request("POST", token, headers=headers, content=content))
    yield _oauth("token/get", Request("GET", token))
    revoke = "/identity/o/api/revoke"
    yield _oauth(
        "revoke/wrong_client_secret",
        Request(
            "POST",
            revoke,
            headers=_basic(client_id, "wrong"),
            content=urlencode({"token": "forged"}).encode(),
        ),
        audited=OAUTH_REFUSALS,
    )
    yield _oauth(
        "revoke/forged_token_public",
        Request("POST", revoke, headers=FORM, content=b"token=forged&client_id=nobody"),
        refused=None,
    )


def _registration_cases(facts: Facts) -> Iterator[Case]:
    register = "/identity/o/api/clients"
    port = facts.listener_port
    json_headers = {"content-type": "application/json"}
    base = {
        "client_name": "corpus",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none",
    }
    refused_bodies: dict[str, Any] = {
        "javascript_redirect": {**base, "redirect_uris": ["javascript:alert(1)"]},
        "data_redirect": {**base, "redirect_uris": ["data:text/html,<script>x</script>"]},
        "file_redirect": {**base, "redirect_uris": ["file:///etc/passwd"]},
        "no_redirect": {**base, "redirect_uris": []},
        "redirect_not_list": {**base, "redirect_uris": "http://127.0.0.1/cb"},
        "implicit_grant": {**base, "grant_types": ["implicit"], "response_types": ["token"]},
        "bad_auth_method": {**base, "token_endpoint_auth_method": "private_key_jwt"},
        "name_nul": {**base, "client_name": "a\x00b"},
        "not_an_object": ["x"],
    }
    for name, body in refused_bodies.items():
        yield _oauth(
            f"register/{name}",
            Request("POST", register, headers=json_headers, content=json.dumps(body).encode()),
        )
    for name, content in {
        "malformed_json": b"{not json",
        "invalid_utf8": b'{"client_name": "\xff"}',
        "huge": json.dumps({**base, "client_name": "x" * 3_000_000}).encode(),
        "deep": ("[" * 10_000 + "]" * 10_000).encode(),
    }.items():
        yield _oauth(
            f"register/{name}",
            Request("POST", register, headers=json_headers, content=content),
        )
    # Registrations naming internal URLs for what a server might fetch (jwks_uri,
    # sector_identifier_uri, request_uris, logo_uri): nothing is fetched from them. They may be
    # accepted (a loopback redirect is how native clients register) or refused.
    fetchable = ("jwks_uri", "sector_identifier_uri", "logo_uri", "request_uris")
    for index, (name, url) in enumerate(_internal_urls(port, "http", "/x.json")):
        member = fetchable[index % len(fetchable)]
        body = {**base, member: [url] if member == "request_uris" else url}
        yield _oauth(
            f"register/fetch_{member}/{name}",
            Request("POST", register, headers=json_headers, content=json.dumps(body).encode()),
            refused=None,
            may_change=frozenset({"allauth_idp_oidc_client"}),
        )
    for name, url in list(_internal_urls(port, "http", "/callback"))[:3]:
        body = {**base, "redirect_uris": [url]}
        yield _oauth(
            f"register/redirect/{name}",
            Request("POST", register, headers=json_headers, content=json.dumps(body).encode()),
            refused=None,
            may_change=frozenset({"allauth_idp_oidc_client"}),
        )


# --- sign-in ----------------------------------------------------------------------------------


#: Hostile login names sent. Each failed sign-in costs a password hash (about a second here), and
#: the sign-in cases together stay under allauth's limit of 30 attempts a minute per address,
#: so that each is judged on its own.
SIGN_IN_PAYLOADS = 7


def _sign_in(
    case_id: str,
    form: dict[str, str],
    *,
    csrf: bool = True,
    audited: frozenset[str] = LOGIN_FAILED,
    headers: Mapping[str, str] | None = None,
    path: str = "/accounts/login/",
) -> Case:
    return Case(
        id=f"sign-in/{case_id}",
        area="sign-in",
        request=Request("POST", path, form=form, csrf=csrf, headers=headers or {}),
        refused=True,
        audited=audited,
    )


def sign_in_cases() -> Iterator[Case]:
    yield _sign_in("no_csrf", {"login": "alice", "password": "x"}, csrf=False, audited=CSRF)
    yield _sign_in(
        "forged_csrf",
        {"login": "alice", "password": "x", "csrfmiddlewaretoken": "A" * 64},
        csrf=False,
        audited=CSRF,
    )
    yield _sign_in("wrong_password", {"login": "alice", "password": "wrong-password-123"})
    yield _sign_in("unknown_user", {"login": "nobody", "password": "whatever-password"})
    yield _sign_in("inactive_user", {"login": "dave", "password": "dave-password-1234"})
    for name, text in WEB_PAYLOADS[:SIGN_IN_PAYLOADS]:
        audited = REQUEST_REFUSED if "\x00" in text else LOGIN_FAILED
        yield _sign_in(
            f"login_field/{name}", {"login": text, "password": "x-password-123"}, audited=audited
        )
    yield _sign_in(
        "password_nul",
        {"login": "alice", "password": "alice-password-123\x00"},
        audited=REQUEST_REFUSED,
    )
    yield _sign_in("password_huge", {"login": "alice", "password": "p" * 100_000})
    yield _sign_in("login_huge", {"login": "a" * 3_000_000, "password": "x"}, audited=frozenset())
    yield _sign_in(
        "forwarded_for_rotation",
        {"login": "alice", "password": "wrong-password-123"},
        headers={"x-forwarded-for": "198.51.100.23"},
    )
    yield _sign_in(
        "second_factor_without_password",
        {"code": "000000"},
        path="/accounts/2fa/authenticate/",
        audited=frozenset(),
    )
    yield Case(
        id="sign-in/open_redirect_next",
        area="sign-in",
        request=Request("GET", "/accounts/login/?next=https://evil.example/"),
        refused=None,
    )


# --- the dashboard and the admin ----------------------------------------------------------------

ROLES = ("alice", "bob", "charlie")
FILTER_PAGES: dict[str, tuple[str, ...]] = {
    "/resources/": (
        "account",
        "region",
        "type",
        "tag_key",
        "tag_value",
        "compliance",
        "q",
        "sort",
        "page",
    ),
    "/resources/export.csv": ("account", "tag_key", "q"),
    "/violations/": ("account", "violation_type", "tag", "rule", "page"),
    "/costs/": ("period", "account"),
    "/policy/diff": ("from", "to"),
    "/policy/": ("download",),
    "/scans/": ("page",),
}


def _web_payloads(start: int, count: int) -> list[tuple[str, str]]:
    return [WEB_PAYLOADS[(start + i) % len(WEB_PAYLOADS)] for i in range(count)]


def dashboard_cases(facts: Facts) -> Iterator[Case]:
    start = 0
    for path, parameters in FILTER_PAGES.items():
        for parameter in parameters:
            for user in ROLES:
                for label, text in _web_payloads(start, 1):
                    query = urlencode({parameter: text})
                    yield Case(
                        id=f"dashboard{path}{parameter}/{user}/{label}",
                        area="dashboard",
                        request=Request("GET", f"{path}?{query}", as_user=user),
                        refused=None,
                        audited=PERMISSION | EXPORTS,
                        audit_when=frozenset({403}),
                        answered_events=EXPORTS,
                    )
                start += 1
    own, other = facts.own_resource, facts.other_resource
    for label, path in {
        "other_resource": f"/resources/{other}/",
        "missing_resource": "/resources/999999/",
        "huge_resource_id": "/resources/99999999999999999999999/",
        "missing_scan": "/scans/999999/",
        "missing_scan_progress": "/scans/999999/progress",
    }.items():
        yield Case(
            id=f"dashboard/idor/{label}",
            area="dashboard",
            request=Request("GET", path, as_user="alice"),
            refused=True,
            audited=frozenset(),
            answered_events=frozenset(),
        )
    for user in ROLES:
        for label, path in {
            "scan": f"/scans/{facts.scan}/",
            "scan_progress": f"/scans/{facts.scan}/progress",
        }.items():
            yield Case(
                id=f"dashboard/{label}/{user}",
                area="dashboard",
                request=Request("GET", path, as_user=user),
                refused=False,
            )
        yield Case(
            id=f"dashboard/scan_progress/{user}/post",
            area="dashboard",
            request=Request(
                "POST", f"/scans/{facts.scan}/progress", as_user=user, form={}, csrf=True
            ),
            refused=True,
        )
    yield Case(
        id="dashboard/idor/own_resource_is_shown",
        area="dashboard",
        request=Request("GET", f"/resources/{own}/", as_user="alice"),
        refused=False,
    )
    for path in ("/", "/resources/", f"/resources/{own}/", "/checklist/", "/policy/"):
        yield Case(
            id=f"dashboard/anonymous{path}",
            area="dashboard",
            request=Request("GET", path),
            refused=None,
        )
    for path in ("/scans/start", "/checklist/"):
        for user in ROLES:
            yield Case(
                id=f"dashboard/post{path}/{user}/no_csrf",
                area="dashboard",
                request=Request("POST", path, as_user=user, form={"x": "1"}),
                refused=True,
                audited=CSRF,
            )
            yield Case(
                id=f"dashboard/post{path}/{user}/forged_csrf",
                area="dashboard",
                request=Request("POST", path, as_user=user, form={"csrfmiddlewaretoken": "B" * 64}),
                refused=True,
                audited=CSRF,
            )
        yield Case(
            id=f"dashboard/post{path}/anonymous",
            area="dashboard",
            request=Request("POST", path, form={"x": "1"}),
            refused=True,
            audited=CSRF,
        )
    # A viewer may not start a scan, an analyst may not run the checklist: a 403, audited.
    for path, user in (("/scans/start", "bob"), ("/checklist/", "bob"), ("/checklist/", "alice")):
        yield Case(
            id=f"dashboard/post{path}/{user}/not_permitted",
            area="dashboard",
            request=Request("POST", path, as_user=user, form={}, csrf=True),
            refused=True,
            audited=PERMISSION,
            statuses=frozenset({403}),
        )
    yield from _admin_cases(facts)


def _admin_cases(facts: Facts) -> Iterator[Case]:
    for user in ("alice", "bob"):
        for path in ("/admin/", "/admin/mcp_endpoint/apikey/", "/admin/compliance/auditevent/"):
            yield Case(
                id=f"admin/{user}{path}",
                area="admin",
                request=Request("GET", path, as_user=user, follow=True),
                refused=True,
                audited=ADMIN_REFUSALS,
            )
        yield Case(
            id=f"admin/{user}/revoke_all",
            area="admin",
            request=Request(
                "POST",
                "/admin/mcp_endpoint/apikey/revoke-all/",
                as_user=user,
                form={},
                csrf=True,
                follow=True,
            ),
            refused=True,
            audited=ADMIN_REFUSALS,
        )
    for path in ("/admin/mcp_endpoint/apikey/revoke-all/", "/admin/mcp_endpoint/apikey/lockdown/"):
        yield Case(
            id=f"admin/charlie{path}no_csrf",
            area="admin",
            request=Request("POST", path, as_user="charlie", form={"post": "yes"}),
            refused=True,
            audited=CSRF,
        )
    yield Case(
        id="admin/charlie/apikey_change_page",
        area="admin",
        request=Request("GET", "/admin/mcp_endpoint/apikey/1/change/", as_user="charlie"),
        refused=False,
    )
    bad_forms: dict[str, tuple[str, dict[str, str]]] = {
        "account_id_sql": (
            "/admin/compliance/awsaccount/add/",
            {"account_id": "1' OR '1'='1", "name": "<script>x</script>"},
        ),
        "account_id_nul": ("/admin/compliance/awsaccount/add/", {"account_id": "12345\x00"}),
        "apikey_no_user": ("/admin/mcp_endpoint/apikey/add/", {"name": "a\x00b"}),
        "policy_import_not_json": (
            "/admin/compliance/taggingpolicy/import/",
            {"document": "{not a policy"},
        ),
        "accountaccess_foreign_ids": (
            "/admin/compliance/accountaccess/add/",
            {"user": "99999", "account": "'; DROP TABLE x"},
        ),
        "attestation_injection": (
            "/admin/compliance/attestation/add/",
            {"item": "../../etc/passwd", "note": "<script>alert(1)</script>\u202e"},
        ),
        "exemption_injection": (
            "/admin/compliance/exemption/add/",
            {"resource_arn": "<img src=x onerror=alert(1)>", "reason": "\u202e"},
        ),
    }
    for name, (path, form) in bad_forms.items():
        yield Case(
            id=f"admin/charlie/form/{name}",
            area="admin",
            request=Request("POST", path, as_user="charlie", form=form, csrf=True),
            refused=None,
            audited=REQUEST_REFUSED | ADMIN_FORM_REFUSALS,
        )
    for label, query in {
        "changelist_sql": "q=%27%20OR%201%3D1--",
        "changelist_bad_order": "o=99.-99",
        "changelist_bad_filter": "event_type__regex=.*",
    }.items():
        yield Case(
            id=f"admin/charlie/auditevent/{label}",
            area="admin",
            request=Request("GET", f"/admin/compliance/auditevent/?{query}", as_user="charlie"),
            refused=None,
        )


def build(facts: Facts, tools: list[dict[str, Any]]) -> list[Case]:
    cases = [
        *mcp_protocol_cases(facts),
        *mcp_argument_cases(facts, tools),
        *mcp_scope_cases(facts, tools),
        *oauth_cases(facts),
        *sign_in_cases(),
        *dashboard_cases(facts),
    ]
    ids = [case.id for case in cases]
    duplicated = {i for i in ids if ids.count(i) > 1}
    assert not duplicated, sorted(duplicated)
    return cases
