"""The audit row lifecycle, read from the real SQLite file through a connection of our own:
a row is "started" before the tool runs and completed after; a process killed during a call
leaves its started row; a file of the first schema is migrated without losing a row; what
the model reads and the row keeps is bounded; a refusal by policy is recorded as such."""

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from localcall.messages import ToolCall
from localcall.tools import NO_RETRY, AuditLog, Policy, RetryPolicy, ToolExecutor, TransientError, tool
from localcall.tools.audit import VERSION


def call(name, args=None, id="call_1"):
    return ToolCall(id=id, name=name, arguments=json.dumps(args or {}))


def execute(executor, c, principal="alice"):
    return asyncio.run(executor.execute(c, principal))


def stored(path, *columns, where=""):
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {', '.join(columns)} FROM tool_calls {where} ORDER BY id").fetchall()


def test_the_row_is_started_before_the_tool_runs_and_completed_after(tools_audit):
    seen_while_running = []

    @tool(retry=NO_RETRY)
    def look(city: str) -> str:
        """Look."""
        seen_while_running.extend(stored(tools_audit.path, "tool", "arguments", "attempt", "outcome",
                                         "duration_ms", "pid"))
        return f"sunny in {city}"

    out = execute(ToolExecutor([look], audit=tools_audit), call("look", {"city": "Oslo"}))
    assert out.ok
    assert seen_while_running == [("look", '{"city": "Oslo"}', 1, "started", None, os.getpid())]
    [(outcome, result, duration, pid)] = stored(tools_audit.path, "outcome", "result", "duration_ms", "pid")
    assert (outcome, result, pid) == ("ok", "sunny in Oslo", os.getpid()) and duration >= 0
    assert tools_audit.unfinished() == []


def test_each_retry_has_its_own_started_then_finished_row(tools_audit):
    states = []

    @tool(retry=RetryPolicy(attempts=3, base_delay=0.01, jitter=0))
    def flaky() -> str:
        """Fails twice."""
        states.append(stored(tools_audit.path, "attempt", "outcome"))
        if len(states) < 3:
            raise TransientError("busy")
        return "ok"

    assert execute(ToolExecutor([flaky], audit=tools_audit), call("flaky")).ok
    assert states == [[(1, "started")], [(1, "error"), (2, "started")],
                      [(1, "error"), (2, "error"), (3, "started")]]
    assert stored(tools_audit.path, "attempt", "outcome") == [(1, "error"), (2, "error"), (3, "ok")]


def test_a_call_abandoned_while_the_tool_runs_is_recorded_as_cancelled(tools_audit):
    entered, release = threading.Event(), threading.Event()

    @tool(retry=NO_RETRY)
    def slow() -> str:
        """Waits."""
        entered.set()
        release.wait(30)
        return "late"

    async def abandon():
        task = asyncio.create_task(ToolExecutor([slow], audit=tools_audit).execute(call("slow"), "bob"))
        await asyncio.to_thread(entered.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(abandon())
    finally:
        release.set()
    [(outcome, duration)] = stored(tools_audit.path, "outcome", "duration_ms")
    assert outcome == "cancelled" and duration is not None


def test_stopped_calls_are_one_finished_row(tools_audit):
    execute(ToolExecutor([], audit=tools_audit), call("nope"))
    assert stored(tools_audit.path, "attempt", "outcome", "duration_ms") == [(0, "unknown_tool", 0.0)]


KILLED = textwrap.dedent("""
    import asyncio, pathlib, sys, time
    from localcall.messages import ToolCall
    from localcall.tools import NO_RETRY, AuditLog, ToolExecutor, tool

    @tool(retry=NO_RETRY, timeout=None)
    def transfer(amount: int) -> str:
        pathlib.Path(sys.argv[2]).write_text("entered")
        time.sleep(120)
        return "sent"

    executor = ToolExecutor([transfer], audit=AuditLog(sys.argv[1]))
    asyncio.run(executor.execute(ToolCall("call_kill", "transfer", '{"amount": 7}'), "bob"))
""")


def test_a_process_killed_during_a_call_leaves_its_started_row(tmp_path, caplog):
    path, marker = tmp_path / "audit.sqlite3", tmp_path / "entered"
    process = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(marker)])
    try:
        while not marker.exists():
            assert process.poll() is None, "the process ended before its tool ran"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert stored(path, "principal", "call_id", "tool", "arguments", "attempt", "outcome", "result", "duration_ms",
                  "pid") == [("bob", "call_kill", "transfer", '{"amount": 7}', 1, "started", None, None, process.pid)]
    with caplog.at_level(logging.WARNING, logger="localcall.tools.audit"):
        log = AuditLog(path)
    try:
        [entry] = log.unfinished()
        assert (entry.tool, entry.call_id, entry.pid, entry.finished) == ("transfer", "call_kill", process.pid, False)
        assert "1 tool call(s) started and never finished" in caplog.text and "call_kill" in caplog.text
    finally:
        log.close()


# The layout of the first version, exactly as it was created (schema version 0).
V0 = """
CREATE TABLE tool_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, principal TEXT NOT NULL,
    call_id TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL, attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL, result TEXT, error TEXT, duration_ms REAL NOT NULL, fallback_for TEXT);
CREATE INDEX tool_calls_call ON tool_calls (call_id);
CREATE INDEX tool_calls_who ON tool_calls (principal, at);
"""


def test_a_file_of_the_first_schema_is_migrated_without_losing_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    old_rows = [(i, f"2026-01-01T00:00:{i:02d}+00:00", "alice", f"c{i}", "add", '{"a": 1}', 1,
                 "ok" if i % 2 else "error", "2" if i % 2 else None, None if i % 2 else "boom", 1.5 * i,
                 "primary" if i == 4 else None) for i in range(1, 41)]
    with sqlite3.connect(path) as db:
        db.executescript(V0)
        db.executemany("INSERT INTO tool_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", old_rows)
        db.execute("DELETE FROM tool_calls WHERE id = 40")  # AUTOINCREMENT must not reuse 40
    db.close()

    with AuditLog(path) as log:
        kept = [(e.id, e.at, e.principal, e.call_id, e.tool, e.arguments, e.attempt, e.outcome, e.result, e.error,
                 e.duration_ms, e.fallback_for) for e in log.entries()]
        assert kept == old_rows[:39]
        assert all(e.pid is None for e in log.entries()) and log.unfinished() == []
        execute(ToolExecutor([tool(lambda a: a, name="echo", parameters={"type": "object"})], audit=log),
                call("echo", {"a": 1}, id="new"))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (VERSION,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT id, outcome FROM tool_calls WHERE call_id = 'new'").fetchone() == (41, "ok")
        columns = {row[1]: row[3] for row in db.execute("PRAGMA table_info(tool_calls)")}  # name → notnull
        assert columns["duration_ms"] == 0 and "pid" in columns
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"tool_calls_call", "tool_calls_who", "tool_calls_unfinished"} <= indexes
    with AuditLog(path) as log:  # opening a migrated file again changes nothing
        assert len(log.entries()) == 40


def test_two_openers_of_an_old_file_migrate_it_once(tmp_path):
    """Two servers starting on the same old file: one migrates, the other waits and finds it done."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V0)
        db.executemany("INSERT INTO tool_calls (at, principal, call_id, tool, arguments, attempt, outcome, duration_ms) "
                       "VALUES ('2026-01-01T00:00:00+00:00', 'a', ?, 't', '{}', 1, 'ok', 1.0)",
                       [(f"c{i}",) for i in range(2000)])
    db.close()
    barrier, logs, errors = threading.Barrier(4), [], []

    def open_log():
        barrier.wait()
        try:
            logs.append(AuditLog(path))
        except Exception as exc:
            errors.append(exc)

    openers = [threading.Thread(target=open_log) for _ in range(4)]
    for t in openers:
        t.start()
    for t in openers:
        t.join()
    try:
        assert errors == [] and len(logs) == 4
        assert [e.call_id for e in logs[0].entries()] == [f"c{i}" for i in range(2000)]
    finally:
        for log in logs:
            log.close()


def test_a_file_of_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer localcall"):
        AuditLog(path)


def test_durability_settings(tools_audit):
    with sqlite3.connect(tools_audit.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # synchronous is per connection: the log's own one is what counts.
    assert tools_audit._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


def test_a_huge_result_is_bounded_for_the_model_and_the_row(tools_audit):
    @tool(retry=NO_RETRY)
    def dump() -> str:
        """Returns a lot."""
        return "x" * 50_000_000

    @tool(retry=NO_RETRY, max_result_bytes=1000)
    def small() -> dict:
        """A bounded JSON result."""
        return {"text": "é" * 2000}

    big = execute(ToolExecutor([dump], audit=tools_audit), call("dump"))
    assert big.ok and big.content == "x" * 16_384 + "... [truncated: 50000000 bytes, showing the first 16384]"
    out = execute(ToolExecutor([small], audit=tools_audit), call("small"))
    full = len(json.dumps({"text": "é" * 2000}, ensure_ascii=False).encode())
    head, note = out.content.split("... [truncated: ")
    assert len(head.encode()) <= 1000 and note == f"{full} bytes, showing the first {len(head.encode())}]"
    # The row keeps what the model read, not the 50 MB.
    assert [r for (r,) in stored(tools_audit.path, "result")] == [big.content, out.content]


def test_a_huge_error_is_bounded(tools_audit):
    @tool(retry=NO_RETRY)
    def shout() -> str:
        """Raises a long message."""
        raise ValueError("no" * 1_000_000)

    out = execute(ToolExecutor([shout], audit=tools_audit), call("shout"))
    assert out.status == "error" and "... [truncated: " in out.error and len(out.content) < 5_000
    [(error,)] = stored(tools_audit.path, "error")
    assert error == out.error


@tool(risk="high", retry=NO_RETRY)
def delete_note(title: str) -> str:
    """Delete a note."""
    return f"deleted {title}"


def test_a_refusal_by_policy_is_not_recorded_as_a_person_declining(tools_audit):
    asked = []
    policy = Policy.of({"alice": ["delete_note"]})
    executor = ToolExecutor([delete_note], audit=tools_audit, high_risk=policy)
    refused = execute(executor, call("delete_note", {"title": "x"}, id="by_policy"), principal="mallory")
    assert refused.status == "denied_by_policy"
    assert refused.error == "delete_note is high-risk and the policy does not allow this caller to run it " \
                            "(no person was asked)"
    assert "declined" not in refused.content
    assert execute(executor, call("delete_note", {"title": "x"}, id="allowed"), principal="alice").ok
    # With a person to ask as well, the policy pre-approves and the person is asked about the rest.
    both = ToolExecutor([delete_note], audit=tools_audit, high_risk=policy,
                        approve=lambda r: asked.append(r.principal) or False)
    assert execute(both, call("delete_note", {"title": "x"}, id="asked"), principal="mallory").status == "denied"
    assert execute(both, call("delete_note", {"title": "x"}, id="pre"), principal="alice").ok
    assert asked == ["mallory"]
    assert stored(tools_audit.path, "call_id", "attempt", "outcome") == [
        ("by_policy", 0, "denied_by_policy"), ("allowed", 1, "ok"), ("asked", 0, "denied"), ("pre", 1, "ok")]
    [declined] = tools_audit.entries("asked")
    assert declined.error == "a person declined the call to delete_note"
