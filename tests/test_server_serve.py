"""`serve.run` as `localcall serve` runs it: a real process, a log line per request, and a
clean shutdown on SIGINT and SIGTERM, even with a generation in flight."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx2
import pytest
from fixtures.waiting import wait_until

from localcall.server.serve import run

LONG = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 4000,
        "stream": True, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {
            "type": "object", "properties": {"s": {"type": "string", "minLength": 50000}}, "required": ["s"]}}}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(port: int, *args: str) -> subprocess.Popen:
    code = f"from localcall.server.serve import run; run(port={port}{''.join(', ' + a for a in args)})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the server did not start"
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx2.TransportError:
            time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_shutdown_with_a_generation_in_flight(sig):
    port = free_port()
    process = start(port, "api_keys=['tester=sk-test']")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Authorization": "Bearer sk-test"}
    hi = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    plain = httpx2.post(url, headers=headers, timeout=60, json=hi)
    assert plain.status_code == 200
    received = []

    def stream():
        try:
            with httpx2.stream("POST", url, json=LONG, headers=headers, timeout=60) as response:
                for line in response.iter_lines():
                    received.append(line)
        except httpx2.TransportError:
            pass  # the server closed the connection at shutdown

    reader = threading.Thread(target=stream)
    reader.start()
    while len(received) < 5:
        time.sleep(0.05)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)  # the grace period is 5 s; the generation is cancelled after
    reader.join(10)
    assert process.returncode in (0, -sig), output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "POST /v1/chat/completions" in line]
    assert any("200 model=smollm2-135m key=tester prompt=" in line and "completion=3" in line for line in lines), output
    assert len(lines) == 2, output  # the interrupted stream is logged too
    assert json.loads(received[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


def test_refuses_to_listen_openly_without_keys():
    with pytest.raises(ValueError, match="--api-key"):
        run(host="0.0.0.0")


def test_serve_batches_four_llama_cpp_requests_by_default():
    """As llama-server's default 4 slots: four streams generate at once, and a fifth waits (here,
    with no room to wait, it is refused)."""
    port = free_port()
    process = start(port, "max_waiting=0")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        with contextlib.ExitStack() as held:
            for _ in range(4):
                response = held.enter_context(httpx2.stream("POST", url, json=LONG, timeout=60))
                assert response.status_code == 200
                lines = response.iter_lines()
                held.callback(lines.close)
                assert next(lines).startswith("data: ")  # this one is generating, beside the others
            refused = httpx2.post(url, timeout=60, json={**LONG, "stream": False, "max_tokens": 2})
            assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert "parallel=4" in output, output


@pytest.mark.parametrize("args, logged", [((), "prompt_cache_mib=1024"), (("--prompt-cache-mib", "0"), "prompt_cache_mib=0")])
def test_serve_keeps_a_prompt_cache_of_the_size_asked(args, logged):
    """`localcall serve` holds 1024 MiB of slot states in host memory by default
    (runtime/prompt_cache.py); --prompt-cache-mib sets it, 0 keeps none. The startup line says."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOCALCALL_PROMPT_CACHE_MIB"}
    process = subprocess.Popen([sys.executable, "-m", "localcall.cli", "serve", "--port", str(port), "--no-ui", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        wait_until(lambda: process.poll() is not None or _healthy(port))
        assert process.poll() is None, process.stdout.read()
        answer = httpx2.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                             json={**LONG, "stream": False, "max_tokens": 2})
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert logged in output, output


def _healthy(port: int) -> bool:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx2.TransportError:
        return False
