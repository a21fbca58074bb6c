"""A crash during a server-side tool call leaves a trace: `localcall serve --tools FILE` as a
real process on a free loopback port (the default model), a call forced onto a tool that
blocks, kill -9 while it runs; the audit database is intact and holds the call's row,
"started" and never finished, next to the finished row of the call before it."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import openai
import pytest

from localcall.tools import AuditLog

TOOLS = '''
import os
import pathlib
import time


def ping() -> str:
    """Check that the service answers."""
    return "pong"


def hold_order(order_id: int) -> str:
    """Put an order on hold until it is released."""
    pathlib.Path(os.environ["CRASH_MARKER"]).write_text(str(order_id))
    while not pathlib.Path(os.environ["CRASH_RELEASE"]).exists():  # never, in this test
        time.sleep(0.05)
    return "released"
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, process: subprocess.Popen, what: str, limit: float = 240) -> None:
    """Poll until condition() holds; fail early if the server died (limit: a hung start)."""
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the server exited before {what}: {process.stdout.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def named(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


def test_kill_during_a_server_tool_leaves_its_started_row(tmp_path, caplog):
    tools, audit = tmp_path / "tools.py", tmp_path / "audit.sqlite3"
    marker, release = tmp_path / "entered", tmp_path / "release"
    tools.write_text(textwrap.dedent(TOOLS))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LOCALCALL_THREADS": "1", "LOCALCALL_AUDIT_DB": str(audit),
           "CRASH_MARKER": str(marker), "CRASH_RELEASE": str(release)}
    server = subprocess.Popen([sys.executable, "-m", "localcall.cli", "serve", "--port", str(port), "--tools",
                               str(tools)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: healthy(url), server, "answering /health")
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
        ask = [{"role": "user", "content": "Check the service, then hold order 4521."}]
        first = client.chat.completions.create(model="smollm2-135m", messages=ask, tool_choice=named("ping"),
                                               max_tokens=48, seed=1)
        ran = first.model_extra["localcall"]["executed_tool_calls"]
        assert ran[0]["name"] == "ping" and ran[0]["status"] == "ok"

        failures = []

        def blocked_request():
            try:
                client.chat.completions.create(model="smollm2-135m", messages=ask, tool_choice=named("hold_order"),
                                               max_tokens=48, seed=1)
            except openai.APIConnectionError:
                failures.append("connection lost")  # the server was killed under it: expected

        request = threading.Thread(target=blocked_request, daemon=True)
        request.start()
        wait_until(marker.exists, server, "the tool to start")
        server.send_signal(signal.SIGKILL)
        server.wait(30)
        request.join(60)
        assert server.returncode == -signal.SIGKILL
        assert failures == ["connection lost"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)

    with sqlite3.connect(audit) as db:  # a client of our own, as an operator would look
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT principal, tool, arguments, attempt, outcome, result, duration_ms, pid "
                          "FROM tool_calls ORDER BY id").fetchall()
    db.close()
    (who, tool, arguments, attempt, outcome, result, duration, pid) = rows[0]
    assert (who, tool, attempt, outcome, result, pid) == ("local", "ping", 1, "ok", "pong", server.pid)
    assert duration is not None
    held = [r for r in rows if r[1] == "hold_order"]
    assert len(held) == 1, rows
    (who, tool, arguments, attempt, outcome, result, duration, pid) = held[0]
    assert (who, attempt, outcome, result, duration, pid) == ("local", 1, "started", None, None, server.pid)
    assert arguments.startswith('{"order_id": ') and marker.read_text() in arguments

    # The next process to open the log says what the crash left.
    with caplog.at_level(logging.WARNING, logger="localcall.tools.audit"):
        log = AuditLog(audit)
    try:
        [left] = log.unfinished()
        assert (left.tool, left.outcome, left.pid) == ("hold_order", "started", server.pid)
        assert "started and never finished" in caplog.text and "hold_order" in caplog.text
    finally:
        log.close()
