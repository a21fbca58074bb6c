"""Back-pressure, timeouts and cancellation on a live server: a full queue answers 429 with
Retry-After, a request that waits past its deadline 503, and a client that leaves stops its
generation within a token or two."""

from __future__ import annotations

import concurrent.futures
import time

import httpx2
import openai
import pytest
from fixtures.waiting import wait_until

MODEL = "smollm2-135m"
# A generation that cannot end early: the grammar demands a very long string.
LONG = {"model": MODEL, "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "max_tokens": 3000, "seed": 1,
        "response_format": {"type": "json_schema", "json_schema": {"name": "story", "schema": {
            "type": "object", "properties": {"story": {"type": "string", "minLength": 20000}}, "required": ["story"]}}}}


@pytest.fixture(scope="module")
def small_queue(start_server, default_model):
    """One request generating, none waiting; short deadline."""
    from localcall.server import ServerSettings

    server = start_server({MODEL: default_model}, ServerSettings(max_waiting=0, request_timeout=60))
    server.queue = server.app.state.catalog.get(MODEL)
    return server


def idle(queue) -> bool:
    return queue.admitted == 0 and not queue._slot.locked() and not queue.model.lock.locked()


class CountingBackend:
    """Counts tokens appended during decoding, to see when a generation really stops."""

    def __init__(self, backend):
        self.backend, self.appended = backend, 0

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def append(self, tokens):
        self.appended += len(tokens)
        return self.backend.append(tokens)


@pytest.fixture
def counting(default_model):
    original = default_model.backend
    default_model.backend = counter = CountingBackend(original)
    yield counter
    default_model.backend = original


def test_queue_full_is_429_with_retry_after(small_queue):
    with httpx2.stream("POST", small_queue.url + "/v1/chat/completions", json={**LONG, "stream": True},
                       timeout=60) as held:
        lines = held.iter_lines()  # kept: a dropped iterator closes the response, and the server stops
        next(lines)  # generating now
        with pytest.raises(openai.RateLimitError) as info:
            small_queue.client().chat.completions.create(model=MODEL, messages=LONG["messages"], max_tokens=2)
        assert int(info.value.response.headers["retry-after"]) >= 1
        assert info.value.code == "queue_full"
    wait_until(lambda: idle(small_queue.queue))
    assert small_queue.client().chat.completions.create(model=MODEL, messages=LONG["messages"], max_tokens=2)


def test_stream_disconnect_cancels_within_a_token_or_two(small_queue, counting):
    with httpx2.stream("POST", small_queue.url + "/v1/chat/completions", json={**LONG, "stream": True},
                       timeout=60) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
        at_close = counting.appended
    wait_until(lambda: idle(small_queue.queue))
    # A few tokens can be in flight (sent to the socket buffer) when the client closes.
    assert counting.appended - at_close <= 12, (at_close, counting.appended)
    assert counting.appended < 200


def test_non_streamed_disconnect_cancels(small_queue, counting):
    with pytest.raises(httpx2.TimeoutException):
        httpx2.post(small_queue.url + "/v1/chat/completions", json=LONG, timeout=1.0)
    wait_until(lambda: idle(small_queue.queue))
    assert counting.appended < 400  # ~1 s of decoding, not the 3000 tokens asked for


def test_deadline_while_waiting_is_503_and_while_generating_ends_with_length(start_server, default_model):
    from localcall.server import ServerSettings

    server = start_server({MODEL: default_model}, ServerSettings(max_waiting=4, request_timeout=1.5))
    queue = server.app.state.catalog.get(MODEL)
    client = server.client()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        with default_model.lock:  # the model is busy elsewhere: the first request's thread waits for it
            first = pool.submit(client.chat.completions.create, model=MODEL, messages=LONG["messages"], max_tokens=50)
            wait_until(lambda: queue._slot.locked())
            second = pool.submit(client.chat.completions.create, model=MODEL, messages=LONG["messages"], max_tokens=5)
            with pytest.raises(openai.InternalServerError) as info:
                second.result(10)
            assert info.value.status_code == 503 and int(info.value.response.headers["retry-after"]) >= 1
            time.sleep(0.5)  # the first request's deadline passes too, while its thread waits for the lock
        result = first.result(30)  # the lock is free: it generates, sees its deadline, stops
    assert result.choices[0].finish_reason == "length" and result.usage.completion_tokens <= 2
    wait_until(lambda: idle(queue))


def test_disconnect_while_queued_frees_the_place(start_server, default_model):
    from localcall.server import ServerSettings

    server = start_server({MODEL: default_model}, ServerSettings(max_waiting=2, request_timeout=60))
    queue = server.app.state.catalog.get(MODEL)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        with default_model.lock:  # one request holds the slot (its thread waits for the lock), one queues
            gone = [pool.submit(httpx2.post, server.url + "/v1/chat/completions", json=LONG, timeout=1.0)
                    for _ in range(2)]
            wait_until(lambda: queue.admitted == 2)
            wait_until(lambda: queue.admitted == 0)  # both clients left: both places are free again
        for future in gone:
            assert isinstance(future.exception(10), httpx2.TimeoutException)
    wait_until(lambda: idle(queue))  # and the cancelled generation gave the slot back


def test_concurrent_clients_all_finish(live_server):
    client = live_server.client()

    def ask(i):
        return client.chat.completions.create(model=MODEL, max_tokens=8, seed=i,
                                              messages=[{"role": "user", "content": f"Count to {i}."}])

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(ask, range(6)))
    assert all(r.choices[0].finish_reason in ("stop", "length") for r in results)
    wait_until(lambda: idle(live_server.app.state.catalog.get(MODEL)))
