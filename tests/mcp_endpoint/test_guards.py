"""Guards: exact shared counters across processes, and each limit refusing clearly."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from compliance import reads
from compliance.models import AuditEvent
from mcp_endpoint import guards
from mcp_endpoint.server import redact
from tests.mcp_endpoint.conftest import Accounts, tool_call
from tests.mcp_endpoint.test_auth import last_event, post

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 5
HITS_EACH = 40  # 200 concurrent hits against a limit of 100
WORKER = [sys.executable, "-m", "tests.mcp_endpoint.counter_worker"]


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _run_workers(env: dict[str, str]) -> int:
    subject = uuid.uuid4().hex
    start_at = time.time() + 3
    workers = [
        subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [*WORKER, str(HITS_EACH), subject, "100", str(start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    return sum(int(out.strip()) for out in outputs)


def _worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env["DJANGO_SECRET_KEY"] = django_settings.SECRET_KEY
    return env | extra


@pytest.mark.slow
@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_redis_budget_is_exact_across_processes() -> None:
    assert _run_workers(_worker_env(REDIS_URL="redis://127.0.0.1:6379/15")) == 100


@pytest.mark.slow
def test_database_budget_is_exact_across_processes(transactional_db: None, tmp_path: Path) -> None:
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        if db.get("PASSWORD"):
            url = url.replace("@", f":{db['PASSWORD']}@", 1)
        env = _worker_env(DATABASE_URL=url)
    else:
        # The in-memory test database is invisible to other processes: use a file.
        env = _worker_env(DATABASE_URL=f"sqlite:///{tmp_path / 'counters.sqlite3'}")
        subprocess.run(  # noqa: S603 (our own interpreter and module)
            [*WORKER, "--create-table"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    assert _run_workers(env) == 100


def _text(body: dict[str, Any]) -> str:
    return str(body["result"]["content"][0]["text"])


def test_hourly_budget_refuses_with_the_limit_and_reset(
    alice_key: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MCP_MAX_CALLS_PER_HOUR = 3
    results = [post(tool_call("list_scans", {"limit": n + 1}), key=alice_key) for n in range(4)]
    assert [body["result"]["isError"] for _s, body, _h in results] == [False] * 3 + [True]
    refused = results[3][1]["result"]
    assert refused["structuredContent"]["error"]["limit"] == "hourly_budget"
    assert "resets at" in refused["content"][0]["text"]
    assert "MCP_MAX_CALLS_PER_HOUR" in refused["content"][0]["text"]
    event = last_event()
    assert (event.event_type, event.detail["limit"]) == ("mcp.denied", "hourly_budget")


def test_budget_exhaustion_is_a_security_event(
    alice_key: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.MCP_MAX_CALLS_PER_HOUR = 1
    with caplog.at_level(logging.WARNING, logger="security"):
        post(tool_call("list_scans"), key=alice_key)
        post(tool_call("list_scans", {"limit": 2}), key=alice_key)
    [record] = [r for r in caplog.records if r.name == "security"]
    assert record.security["event"] == "budget_exhausted"  # type: ignore[attr-defined]
    assert record.security["source"] == alice_key[:12]  # type: ignore[attr-defined]


def clear_of_a_minute_boundary(margin: float = 15.0) -> None:
    """Wait, if need be, until the current clock minute has ``margin`` seconds left: the
    per-minute window is a clock minute, and calls on both sides of its end count apart."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.1)


def test_per_minute_rate_limit(alice_key: str, settings: Any) -> None:
    settings.MCP_RATE_LIMIT_PER_MINUTE = 2
    clear_of_a_minute_boundary()
    bodies = [post(tool_call("list_scans", {"limit": n + 1}), key=alice_key)[1] for n in range(3)]
    assert bodies[2]["result"]["structuredContent"]["error"]["limit"] == "rate_limit"


def test_loop_detection_refuses_the_same_call_repeated(alice_key: str, settings: Any) -> None:
    settings.MCP_MAX_IDENTICAL_CALLS = 2
    bodies = [post(tool_call("list_scans", {"limit": 5}), key=alice_key)[1] for _ in range(3)]
    assert [b["result"]["isError"] for b in bodies] == [False, False, True]
    assert "loop detected" in _text(bodies[2])
    # Other arguments are another call.
    assert not post(tool_call("list_scans", {"limit": 6}), key=alice_key)[1]["result"]["isError"]


def test_body_over_the_size_limit_is_refused_before_the_sdk(alice_key: str, settings: Any) -> None:
    settings.MCP_MAX_REQUEST_BYTES = 2048
    status, body, _ = post(
        tool_call("validate_resource_tags", {"resource_type": "ec2:instance", "tags": {}})
        | {"padding": "x" * 4096},
        key=alice_key,
    )
    assert status == 413
    assert "MCP_MAX_REQUEST_BYTES" in body["error"]["message"]
    assert last_event().detail["reason"] == "body_size"


def test_deep_json_is_refused(alice_key: str) -> None:
    deep: Any = "x"
    for _ in range(50):
        deep = {"a": deep}
    status, body, _ = post(tool_call("list_scans", {"x": deep}), key=alice_key)
    assert status == 400
    assert body["error"]["data"]["reason"] == "json_depth"
    assert last_event().event_type == "mcp.denied"


def test_too_many_keys_are_refused(alice_key: str, settings: Any) -> None:
    settings.MCP_MAX_JSON_KEYS = 20
    wide = {f"k{n}": n for n in range(30)}
    status, body, _ = post(tool_call("list_scans", wide), key=alice_key)
    assert status == 400
    assert body["error"]["data"]["reason"] == "json_keys"


def test_schema_limits_are_enforced(alice_key: str) -> None:
    _s, body, _ = post(tool_call("check_tag_compliance", {"limit": 10_000}), key=alice_key)
    assert "limit: Input should be less than or equal to 500" in _text(body)
    _s, body, _ = post(
        tool_call("check_tag_compliance", {"resource_types": ["ec2:teapot"]}), key=alice_key
    )
    assert "unknown resource type 'ec2:teapot'" in _text(body)
    _s, body, _ = post(tool_call("check_tag_compliance", {"cursor": "forged"}), key=alice_key)
    assert "cursor: not a cursor this server issued" in _text(body)


def test_slow_tool_times_out(
    alice_key: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MCP_TOOL_TIMEOUT_SECONDS = 0.3

    def slow_scan_block(*args: Any, **kwargs: Any) -> None:
        time.sleep(1)

    monkeypatch.setattr(reads, "scan_block", slow_scan_block)
    _s, body, _ = post(tool_call("list_scans"), key=alice_key)
    assert "tool timeout: list_scans took longer than 0.3 s" in _text(body)
    event = last_event()
    assert (event.outcome, event.detail["error"]) == ("error", "timeout")


def test_internal_errors_are_sanitised(
    alice_key: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            'relation "secret_table" does not exist at /srv/app/x.py password=hunter2'
        )

    monkeypatch.setattr(reads, "scan_block", broken)
    _s, body, headers = post(tool_call("list_scans"), key=alice_key)
    text = json.dumps(body)
    for leak in ("secret_table", "/srv/app", "hunter2", "Traceback", "RuntimeError"):
        assert leak not in text
    assert headers["x-correlation-id"] in _text(body)
    assert "secret_table" in caplog.text  # the detail is in the server log
    assert last_event().outcome == "error"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def security_log() -> Iterator[_Records]:
    """The ``security`` logger's records. It does not propagate to the root logger, where
    caplog listens, so a handler of the test's own is attached to it, after the ASGI
    application is imported: that import sets Django up, which configures logging afresh."""
    import finops_site.asgi  # noqa: F401

    logger = logging.getLogger("security")
    handler = _Records()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_repeated_auth_failures_raise_a_security_event(
    accounts: Accounts, settings: Any, security_log: _Records
) -> None:
    settings.MCP_ALERT_AUTH_FAILURES = 3
    for _ in range(4):
        post(tool_call("list_scans"), key="ftc_abcdefgh_" + "z" * 43)
    records = [r for r in security_log.records if r.name == "security"]
    assert len(records) == 2  # the third and the fourth failure
    assert records[0].security["event"] == "auth_failed"  # type: ignore[attr-defined]
    assert AuditEvent.objects.filter(event_type="auth.failed").count() == 4


def test_auth_failures_from_one_ipv6_block_count_as_one_client(
    accounts: Accounts, settings: Any, security_log: _Records
) -> None:
    settings.MCP_ALERT_AUTH_FAILURES = 3
    for host in range(1, 4):  # three addresses of one /64, rotated as a client could
        post(tool_call("list_scans"), key="ftc_abcdefgh_" + "z" * 43, peer=f"2001:db8::{host}")
    records = [r for r in security_log.records if r.name == "security"]
    assert [r.security["source"] for r in records] == ["2001:db8::/64"]  # type: ignore[attr-defined]
    addresses = AuditEvent.objects.filter(event_type="auth.failed").values_list(
        "client_address", flat=True
    )
    assert sorted(str(a) for a in addresses) == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]


def test_audit_arguments_redact_secrets() -> None:
    assert redact({"token": "abc", "tags": {"Owner": "ftc_abcdefgh_" + "q" * 43}}) == {
        "token": "[redacted]",
        "tags": {"Owner": "[redacted]"},
    }


def test_json_shape_check_counts_depth_and_keys() -> None:
    guards.check_json_shape({"a": [1, {"b": 2}]}, max_depth=3, max_keys=2)
    with pytest.raises(guards.Refusal):
        guards.check_json_shape({"a": [1, {"b": 2}]}, max_depth=2, max_keys=10)
