"""The execution pipeline under fault injection: every failure ends as a structured tool
result, and the audit log (read from the real SQLite file) holds one row per attempt."""

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pydantic import BaseModel

from localcall.messages import ToolCall
from localcall.tools import (NO_RETRY, Policy, RetryPolicy, ToolError, ToolExecutor, TransientError,
                             tool)

FAST = RetryPolicy(base_delay=0.01, jitter=0)


def call(name, args=None, id="call_1"):
    return ToolCall(id=id, name=name, arguments=args if isinstance(args, str) else json.dumps(args or {}))


def execute(executor, c, principal="alice"):
    return asyncio.run(executor.execute(c, principal))


def rows(audit, *columns):
    """The audit rows as stored in the file, through a connection of our own."""
    with sqlite3.connect(audit.path) as db:
        return db.execute(f"SELECT {', '.join(columns)} FROM tool_calls ORDER BY id").fetchall()


def body(outcome):
    return json.loads(outcome.content)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_success_is_returned_and_logged(tools_audit):
    out = execute(ToolExecutor([add], audit=tools_audit), call("add", {"a": 2, "b": 3}))
    assert (out.ok, out.value, out.content, out.attempts) == (True, 5, "5", 1)
    assert out.message() == {"role": "tool", "tool_call_id": "call_1", "content": "5"}
    [row] = rows(tools_audit, "principal", "call_id", "tool", "arguments", "attempt", "outcome", "result",
                 "error", "duration_ms", "at")
    assert row[:8] == ("alice", "call_1", "add", '{"a": 2, "b": 3}', 1, "ok", "5", None)
    assert row[8] >= 0 and row[9].endswith("+00:00")


def test_a_raising_tool_becomes_a_structured_error(tools_audit):
    @tool(retry=FAST)
    def broken(x: int):
        """Always fails."""
        raise ValueError("bad things")

    out = execute(ToolExecutor([broken], audit=tools_audit), call("broken", {"x": 1}))
    assert out.status == "error" and not out.ok
    assert body(out) == {"error": "broken failed: ValueError: bad things",
                         "suggestion": "check the arguments, or try another tool or approach"}
    # ValueError is not transient: one attempt only.
    assert rows(tools_audit, "attempt", "outcome", "error") == [(1, "error", out.error)]


def test_tool_error_chooses_the_message(tools_audit):
    @tool
    def weather(city: str):
        """Weather."""
        raise ToolError("location not found", suggestion="try a more specific name")

    out = execute(ToolExecutor([weather], audit=tools_audit), call("weather", {"city": "Toky"}))
    assert body(out) == {"error": "location not found", "suggestion": "try a more specific name"}


def test_a_hung_sync_tool_times_out(tools_audit):
    release = threading.Event()

    @tool(timeout=0.2, retry=NO_RETRY)
    def hang():
        """Never answers."""
        release.wait(30)

    try:
        out = execute(ToolExecutor([hang], audit=tools_audit), call("hang"))
    finally:
        release.set()
    assert out.status == "timeout" and "did not answer within 0.2 s" in body(out)["error"]
    assert "suggestion" in body(out)
    assert rows(tools_audit, "attempt", "outcome") == [(1, "timeout")]


def test_a_hung_async_tool_times_out_and_is_cancelled(tools_audit):
    cancelled = []

    @tool(timeout=0.2, retry=NO_RETRY)
    async def hang():
        """Never answers."""
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    out = execute(ToolExecutor([hang], audit=tools_audit), call("hang"))
    assert out.status == "timeout" and cancelled == [True]


def test_transient_errors_are_retried_until_success(tools_audit):
    attempts = []

    @tool(retry=FAST)
    def flaky() -> str:
        """Fails twice, then works."""
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise TransientError("rate limited")
        return "ok"

    out = execute(ToolExecutor([flaky], audit=tools_audit), call("flaky"))
    assert (out.ok, out.value, out.attempts) == (True, "ok", 3)
    assert rows(tools_audit, "attempt", "outcome", "error") == [
        (1, "error", "rate limited"), (2, "error", "rate limited"), (3, "ok", None)]
    # It backed off: 0.01 s, then 0.02 s (a lower bound, so no flakiness on a slow machine).
    assert attempts[1] - attempts[0] >= 0.01 and attempts[2] - attempts[1] >= 0.02


def test_retries_give_up_after_the_policy_attempts(tools_audit):
    @tool(retry=RetryPolicy(attempts=3, base_delay=0.01, jitter=0))
    def down():
        """Service down."""
        raise ConnectionError("connection refused")  # transient by default

    out = execute(ToolExecutor([down], audit=tools_audit), call("down"))
    assert out.status == "error" and out.attempts == 3
    assert out.error.endswith("(after 3 attempts)")
    assert [r[0] for r in rows(tools_audit, "attempt")] == [1, 2, 3]


def test_custom_transient_classes(tools_audit):
    attempts = []

    @tool(retry=RetryPolicy(attempts=2, base_delay=0.01, transient=(KeyError,)))
    def lookup():
        """Custom transient."""
        attempts.append(1)
        raise KeyError("x")

    execute(ToolExecutor([lookup], audit=tools_audit), call("lookup"))
    assert len(attempts) == 2


def test_fallback_answers_when_the_tool_fails(tools_audit):
    @tool
    def weather_v1(city: str) -> dict:
        """Old weather service."""
        return {"city": city, "temp": 22}

    @tool(retry=RetryPolicy(attempts=2, base_delay=0.01), fallback="weather_v1")
    def weather_v2(city: str) -> dict:
        """New weather service."""
        raise TransientError("503")

    out = execute(ToolExecutor([weather_v2, weather_v1], audit=tools_audit),
                  call("weather_v2", {"city": "Tokyo"}))
    assert out.ok and out.value == {"city": "Tokyo", "temp": 22}
    assert out.name == "weather_v2" and out.answered_by == "weather_v1"
    assert rows(tools_audit, "tool", "attempt", "outcome", "fallback_for") == [
        ("weather_v2", 1, "error", None), ("weather_v2", 2, "error", None), ("weather_v1", 1, "ok", "weather_v2")]


def test_fallback_given_as_a_tool_and_both_failing(tools_audit):
    @tool(retry=NO_RETRY)
    def backup():
        """Backup."""
        raise RuntimeError("also down")

    @tool(retry=NO_RETRY, fallback=backup)
    def primary():
        """Primary."""
        raise RuntimeError("down")

    out = execute(ToolExecutor([primary], audit=tools_audit), call("primary"))
    assert out.status == "error"
    assert body(out)["error"] == ("primary failed: RuntimeError: down; the fallback backup failed too: "
                                  "backup failed: RuntimeError: also down")
    assert len(rows(tools_audit, "id")) == 2


def test_fallback_outside_the_policy_is_not_used(tools_audit):
    secret = tool(lambda: "secret", name="secret", retry=NO_RETRY)
    primary = tool(lambda: 1 / 0, name="primary", retry=NO_RETRY, fallback="secret")
    policy = Policy.of({"alice": ["primary"]})
    out = execute(ToolExecutor([primary, secret], audit=tools_audit, policy=policy), call("primary"))
    assert out.status == "error" and rows(tools_audit, "tool") == [("primary",)]


def test_unregistered_fallback_name_is_a_definition_error(tools_audit):
    with pytest.raises(ValueError, match="not registered"):
        ToolExecutor([tool(lambda: 1, name="a", fallback="nope")], audit=tools_audit)


@pytest.mark.parametrize("value", [{1, 2}, object(), float("nan"), {"when": time}])
def test_a_non_serializable_result_is_an_error(tools_audit, value):
    odd = tool(lambda: value, name="odd")
    out = execute(ToolExecutor([odd], audit=tools_audit), call("odd"))
    assert out.status == "not_serializable" and "cannot be sent as JSON" in out.error
    assert "do not retry" in body(out)["suggestion"]
    assert rows(tools_audit, "attempt", "outcome") == [(1, "not_serializable")]


def test_pydantic_results_are_serialized(tools_audit):
    class Weather(BaseModel):
        temp: float

    out = execute(ToolExecutor([tool(lambda: Weather(temp=1.5), name="w")], audit=tools_audit), call("w"))
    assert out.ok and json.loads(out.content) == {"temp": 1.5}


def test_unknown_tool(tools_audit):
    out = execute(ToolExecutor([add], audit=tools_audit), call("delete_everything"))
    assert out.status == "unknown_tool"
    assert body(out) == {"error": "there is no tool named 'delete_everything'",
                         "suggestion": "call one of the tools you were given (add), or answer directly"}
    assert rows(tools_audit, "tool", "attempt", "outcome") == [("delete_everything", 0, "unknown_tool")]


@pytest.mark.parametrize("raw, expected", [
    ('{"a": 1, "b": ', "not valid JSON"),
    ("[1, 2]", "must be a JSON object, not list"),
    ('{"a": 1}', "'b' is a required property"),
    ('{"a": "one", "b": 2}', "a: 'one' is not of type 'integer'"),
    ('{"a": 1, "b": 2, "c": 3}', "Additional properties are not allowed"),
])
def test_bad_arguments_never_reach_the_tool(tools_audit, raw, expected):
    ran = []
    counted = tool(lambda a, b: ran.append(1), name="add", parameters=add.parameters)
    out = execute(ToolExecutor([counted], audit=tools_audit), call("add", raw))
    assert out.status == "invalid_arguments" and expected in body(out)["error"]
    assert body(out)["suggestion"].endswith("add takes: a (integer, required), b (integer, required)")
    assert ran == []
    assert rows(tools_audit, "arguments", "attempt", "outcome") == [(raw, 0, "invalid_arguments")]


def test_business_rules_run_after_the_schema(tools_audit):
    seen = []

    def positive(args):
        seen.append(args)
        if args["amount"] <= 0:
            raise ValueError("amount must be positive")

    def not_to_self(args):
        if args["to"] == "me":
            raise ToolError("cannot pay yourself", "pick another recipient")

    @tool(validators=[positive, not_to_self])
    def pay(to: str, amount: float) -> str:
        """Pay."""
        return "paid"

    executor = ToolExecutor([pay], audit=tools_audit)
    assert body(execute(executor, call("pay", {"to": "bob", "amount": -1}))) == {
        "error": "arguments rejected by pay: amount must be positive", "suggestion": "change the arguments"}
    assert body(execute(executor, call("pay", {"to": "me", "amount": 1}))) == {
        "error": "cannot pay yourself", "suggestion": "pick another recipient"}
    execute(executor, call("pay", {"to": "bob", "amount": "x"}))  # schema fails first: rules not run
    assert len(seen) == 2
    assert execute(executor, call("pay", {"to": "bob", "amount": 5})).ok


def test_a_broken_business_rule_is_a_structured_error(tools_audit):
    def lookup_limit(args):
        return {"bob": 10}[args["to"]]  # KeyError for anyone else: a bug in the rule

    @tool(validators=[lookup_limit])
    def pay(to: str) -> str:
        """Pay."""
        return "paid"

    out = execute(ToolExecutor([pay], audit=tools_audit), call("pay", {"to": "carol"}))
    assert out.status == "invalid_arguments"
    assert body(out)["error"] == "checking the arguments of pay failed (KeyError: 'carol')"
    assert rows(tools_audit, "attempt", "outcome") == [(0, "invalid_arguments")]


def test_arguments_arrive_typed(tools_audit):
    class Point(BaseModel):
        x: int
        y: int

    got = []

    @tool
    def plot(p: Point, label: str = "none") -> str:
        """Plot."""
        got.append((p, label))
        return "ok"

    execute(ToolExecutor([plot], audit=tools_audit), call("plot", {"p": {"x": 1, "y": 2}}))
    assert got == [(Point(x=1, y=2), "none")]


@tool(risk="high")
def transfer(amount: float, to: str) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


def test_approved_high_risk_call_runs(tools_audit):
    requests = []

    def approve(request):
        requests.append(request)
        return True

    out = execute(ToolExecutor([transfer], audit=tools_audit, approve=approve),
                  call("transfer", {"amount": 10, "to": "bob"}), principal="carol")
    assert out.ok and out.value == "sent 10.0 to bob"
    [r] = requests
    assert (r.tool, r.principal, r.call_id, r.risk, r.arguments) == (
        "transfer", "carol", "call_1", "high", {"amount": 10.0, "to": "bob"})


@pytest.mark.parametrize("approve, reason", [
    (lambda r: False, "a person declined the call to transfer"),
    (lambda r: "yes", "a person declined the call to transfer"),  # only True approves
    (None, "transfer needs a person's approval and none can be asked here"),
    (lambda r: 1 / 0, "the approval step failed (ZeroDivisionError: division by zero), so transfer did not run"),
])
def test_denied_high_risk_call_is_blocked_logged_and_reported(tools_audit, approve, reason):
    out = execute(ToolExecutor([transfer], audit=tools_audit, approve=approve),
                  call("transfer", {"amount": 10, "to": "bob"}))
    assert out.status == "denied" and body(out)["error"] == reason
    assert "do not call it again" in body(out)["suggestion"]
    assert rows(tools_audit, "attempt", "outcome", "error") == [(0, "denied", reason)]


def test_async_approver(tools_audit):
    async def approve(request):
        await asyncio.sleep(0)
        return True

    out = execute(ToolExecutor([transfer], audit=tools_audit, approve=approve),
                  call("transfer", {"amount": 1, "to": "x"}))
    assert out.ok


def test_approval_is_not_asked_for_invalid_arguments(tools_audit):
    asked = []
    out = execute(ToolExecutor([transfer], audit=tools_audit, approve=asked.append),
                  call("transfer", {"amount": "lots"}))
    assert out.status == "invalid_arguments" and asked == []


def test_a_tool_outside_the_policy_is_refused_like_an_unknown_one(tools_audit):
    policy = Policy.of({"alice": ["add"]}, default=[])
    executor = ToolExecutor([add, transfer], audit=tools_audit, policy=policy, approve=lambda r: True)
    refused = execute(executor, call("transfer", {"amount": 1, "to": "x"}), principal="alice")
    unknown = execute(executor, call("launch_rockets"), principal="alice")
    assert refused.status == "refused"
    # The model learns nothing about tools it may not use: same words as for a missing tool.
    assert body(refused)["suggestion"] == body(unknown)["suggestion"]
    assert body(refused)["error"] == "there is no tool named 'transfer'"
    assert execute(executor, call("add", {"a": 1, "b": 1}), principal="alice").ok
    assert execute(executor, call("add", {"a": 1, "b": 1}), principal="mallory").status == "refused"
    assert rows(tools_audit, "principal", "outcome") == [
        ("alice", "refused"), ("alice", "unknown_tool"), ("alice", "ok"), ("mallory", "refused")]


def test_policy_patterns():
    policy = Policy.of({"analyst": ["query_*", "calculator"]}, default=["calculator"])
    assert policy.allows("analyst", "query_database") and policy.allows("analyst", "calculator")
    assert not policy.allows("analyst", "read_file")
    assert policy.allows("someone", "calculator") and not policy.allows("someone", "query_database")
    assert Policy.allow_all().allows("anyone", "anything")
    assert not Policy().allows("anyone", "anything")


def test_audit_file_is_in_wal_mode(tools_audit):
    with sqlite3.connect(tools_audit.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_audit_rows_survive_a_crash_right_after_the_result(tmp_path):
    """The row is committed before the outcome is returned: a process killed the moment it
    has its result (no close, no cleanup) leaves the row in the file."""
    path = tmp_path / "audit.sqlite3"
    script = textwrap.dedent("""
        import asyncio, os, sys
        from localcall.messages import ToolCall
        from localcall.tools import AuditLog, ToolExecutor, tool

        ping = tool(lambda: "pong", name="ping")
        executor = ToolExecutor([ping], audit=AuditLog(sys.argv[1]))
        outcome = asyncio.run(executor.execute(ToolCall("c1", "ping", "{}"), "bob"))
        os._exit(0 if outcome.ok else 3)
    """)
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT principal, tool, outcome, result FROM tool_calls").fetchall() == [
            ("bob", "ping", "ok", "pong")]


def test_audit_entries_api(tools_audit):
    execute(ToolExecutor([add], audit=tools_audit), call("add", {"a": 1, "b": 2}, id="x"))
    execute(ToolExecutor([add], audit=tools_audit), call("nope", id="y"))
    assert [e.outcome for e in tools_audit.entries()] == ["ok", "unknown_tool"]
    [entry] = tools_audit.entries(call_id="y")
    assert entry.tool == "nope" and entry.attempt == 0


def test_callable_objects_with_async_call(tools_audit):
    class Lookup:
        async def __call__(self, key: str) -> str:
            return key.upper()

    t = tool(Lookup(), name="lookup", parameters={"type": "object", "properties": {"key": {"type": "string"}}})
    assert t.is_async
    out = execute(ToolExecutor([t], audit=tools_audit), call("lookup", {"key": "ab"}))
    assert out.ok and out.value == "AB"
