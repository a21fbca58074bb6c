"""Cancellation during prefill (issue 17): a long prompt stops between two chunks when its
cancel event is set (a client gone, a deadline), the KV cache keeps the evaluated prefix
consistently, and the next request neither waits for the whole prompt nor sees a broken cache."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx2
import pytest
from fixtures.waiting import wait_until

from localcall.runtime.backend import reusable_prefix
from localcall.runtime.generate import Generation
from localcall.runtime.sampling import SamplingParams

MODEL = "smollm2-135m"
SYSTEM = ("You are a careful assistant for the harbour office. Answer briefly and plainly; when you do not "
          "know, say so. Never invent ship names, dates or tide times.")
QUESTION = "What is the capital of France?"
PARAGRAPH = ("The lighthouse keepers of the northern coast kept logs of every storm, every ship and every "
             "failed lamp, and the logs fill a whole room of the harbour museum today. ")


def chatml(system: str, user: str) -> str:
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def long_prompt(backend, n_tokens: int) -> list[int]:
    """A real prompt of about n_tokens: the system message, then many paragraphs."""
    repeats = n_tokens // len(backend.tokenize(PARAGRAPH)) + 1
    return backend.tokenize(chatml(SYSTEM, PARAGRAPH * repeats))[: n_tokens - 8] + backend.tokenize(
        "<|im_end|>\n<|im_start|>assistant\n")


def greedy(backend, text: str) -> list[int]:
    gen = Generation(backend, backend.tokenize(text), SamplingParams(temperature=0, max_tokens=12))
    return [t.token for t in gen]


def cancel_once_started(backend, prompt: list[int], cancel: threading.Event) -> threading.Thread:
    """Sets `cancel` as soon as this prompt's prefill has evaluated its first chunk."""

    def watch():
        wait_until(lambda: backend.stats.prompt_tokens == len(prompt) and backend.stats.evaluated_tokens > 0)
        cancel.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_cancel_stops_prefill_between_chunks_and_keeps_the_cache_consistent(any_backend):
    backend = any_backend
    backend.reset()
    prompt = long_prompt(backend, min(3001, backend.n_ctx - 100))
    cancel = threading.Event()
    watcher = cancel_once_started(backend, prompt, cancel)
    gen = Generation(backend, prompt, SamplingParams(temperature=0, max_tokens=1), cancel=cancel)
    assert list(gen) == []
    watcher.join()
    assert gen.finish_reason == "cancelled" and gen.completion_tokens == 0
    evaluated = backend.stats.evaluated_tokens
    # It stopped after a chunk or two (the watcher may see the first one late), not at the end.
    assert 0 < evaluated <= 3 * backend.prefill_chunk < len(prompt)
    # The evaluated prefix stays cached, exactly: the next request sharing the system message
    # reuses it and answers as after a clean prefill of that same prefix.
    question = backend.tokenize(chatml(SYSTEM, QUESTION))
    after = greedy(backend, chatml(SYSTEM, QUESTION))
    assert backend.stats.reused_tokens == min(reusable_prefix(prompt, question), evaluated) > 20
    backend.reset()
    backend.prefill(prompt[:evaluated])
    assert greedy(backend, chatml(SYSTEM, QUESTION)) == after


@pytest.fixture(scope="module")
def server(start_server, default_model):
    from localcall.server import ServerSettings

    server = start_server({MODEL: default_model}, ServerSettings(max_waiting=2, request_timeout=300))
    server.queue = server.app.state.catalog.get(MODEL)
    return server


def idle(queue) -> bool:
    return queue.admitted == 0 and not queue._slot.locked() and not queue.model.lock.locked()


def ask(server, content: str) -> dict:
    response = httpx2.post(server.url + "/v1/chat/completions", timeout=120, json={
        "model": MODEL, "max_tokens": 12, "temperature": 0,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]})
    response.raise_for_status()
    return response.json()


def test_client_gone_during_a_long_prefill_frees_the_model(server, default_model):
    backend = default_model.backend
    backend.reset()
    long_text = PARAGRAPH * (7800 // len(backend.tokenize(PARAGRAPH)))
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": long_text}]
    prompt = default_model.prepare(messages).prompt
    # The client gives up while the prompt is being evaluated (as in issue 17, at 120 s): a
    # real connection, closed once the server has begun this prompt's prefill.
    body = json.dumps({"model": MODEL, "max_tokens": 1, "messages": messages}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_until(lambda: backend.stats.prompt_tokens == len(prompt) and backend.stats.evaluated_tokens > 0)
    wait_until(lambda: idle(server.queue))
    stats = backend.stats
    assert stats.prompt_tokens == len(prompt) > 7000
    assert 0 < stats.evaluated_tokens < len(prompt)  # stopped part-way, soon after the client left
    # The next request runs at once, on a consistent cache: it reuses the system message the
    # cancelled prefill left behind and answers as after a clean prefill of the same prefix.
    warm = ask(server, QUESTION)
    backend.reset()
    backend.prefill(prompt[:stats.evaluated_tokens])
    clean = ask(server, QUESTION)
    assert warm["choices"][0]["message"]["content"] == clean["choices"][0]["message"]["content"]
    assert warm["usage"]["prompt_tokens_details"]["cached_tokens"] == \
        clean["usage"]["prompt_tokens_details"]["cached_tokens"] > 20
