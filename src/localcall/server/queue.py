"""Back-pressure and the worker threads: one bounded queue in front of each model instance.

A model generates for one request at a time (`ChatModel.lock`), or for `slots` at once when
its backend batches (`--parallel`, runtime/batch.py). Requests are admitted while at most
`max_waiting` of them wait behind the ones generating; beyond that the answer is 429 with a
Retry-After estimated from how long generations have been taking. An admitted request waits
for one of the model's slots on the event loop (not in a blocked thread), and gives up with
503 when its deadline passes first.

A generation runs in a thread of its own, so the event loop never waits on llama.cpp. Events
cross to the loop in batches: the first at once (time to first token), then at most one batch
per `stream_interval` (20 ms by default, as vLLM's stream interval). Waking the loop, writing
to the socket and waking the client for every token costs CPU next to threads that decode on
every core; batching cuts those wake-ups about threefold at ~130 tokens/s, and 20 ms is below
what a reader can see. (benchmarks/server.py measures both against the in-process rate.)

The consumer stopping early (client gone, deadline) sets the generation's cancel event, which
the generation loop checks between tokens and the prefill between chunks of the prompt. The slot is released when the thread has really
finished, so the next generation never queues on the model's lock inside a thread.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import AsyncIterator

from ..messages import ChatEvent, Finished, Message
from ..model import ChatModel, PreparedRequest
from .errors import APIError

_SMOOTHING = 0.3  # weight of the newest generation in the running average of their durations


@dataclass(eq=False)
class _Job:
    cancel: threading.Event
    started: float  # loop time
    thread: threading.Thread | None = None


@dataclass
class Failure:
    """Passed where a batch would be: the producer failed with this error."""

    error: BaseException


@dataclass(eq=False)
class Ticket:
    """An admitted request: counted against the queue's bound until released."""

    queue: "ModelQueue"
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.queue._admitted -= 1


class ModelQueue:
    def __init__(self, model: ChatModel, *, max_waiting: int, stream_interval: float):
        if max_waiting < 0:
            raise ValueError("max_waiting must be >= 0")
        self.model = model
        self.max_waiting = max_waiting
        self.stream_interval = stream_interval
        self._admitted = 0
        self.parallel = getattr(model.backend, "slots", 1)  # generations the backend runs at once
        self._slot = asyncio.Semaphore(self.parallel)
        self._jobs: set[_Job] = set()
        self._average_seconds = 2.0  # a guess until the first generation is measured
        self.closing = False

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self) -> Ticket:
        """A ticket for one request (all of its generations); APIError 429 when the queue is full."""
        if self.closing:
            raise _shutting_down()
        if self._admitted >= self.parallel + self.max_waiting:
            raise APIError(429, f"The server is busy: {self.model.name} has {self.max_waiting} request(s) waiting "
                                f"already. Retry after the time in the Retry-After header.",
                           code="queue_full", headers={"Retry-After": self.retry_after()})
        self._admitted += 1
        return Ticket(self)

    def retry_after(self) -> str:
        """Seconds until a place is likely free: the average generation time per request ahead,
        shared among the slots."""
        ahead = max(1, self._admitted) / self.parallel
        return str(max(1, min(600, math.ceil(self._average_seconds * ahead))))

    async def stream(self, messages: list[Message] | PreparedRequest, *, cancel: threading.Event, deadline: float,
                     **request) -> AsyncIterator[list[ChatEvent]]:
        """ChatModel.stream run in a worker thread once the slot is free, as batches of events;
        the last batch ends with Finished. A PreparedRequest (raw completions) goes to
        ChatModel.stream_prepared instead.

        Raises the runtime's RequestError (before any event) and APIError 503 when the deadline
        (loop time) passes while waiting. When the deadline passes during generation, the
        generation is cancelled and Finished carries finish_reason "cancelled".
        """
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(self._slot.acquire(), timeout=max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise APIError(503, f"Timed out waiting for {self.model.name}: the requests ahead of this one took "
                                f"longer than its time limit.", code="queue_timeout",
                           headers={"Retry-After": self.retry_after()}) from None
        if self.closing:
            self._slot.release()
            raise _shutting_down()
        events: asyncio.Queue = asyncio.Queue()
        job = _Job(cancel, loop.time())
        job.thread = threading.Thread(target=self._work, args=(loop, events, job, messages, request),
                                      name=f"localcall-generate-{self.model.name}", daemon=True)
        self._jobs.add(job)
        try:
            job.thread.start()
        except BaseException:
            self._finished(job)
            raise
        # The deadline stops the generation the way a disconnect does; the timer costs nothing per token.
        timer = loop.call_at(deadline, cancel.set)
        finished = False
        try:
            async for batch in drain(events):
                finished = isinstance(batch[-1], Finished)
                yield batch
        finally:
            timer.cancel()
            if not finished:
                cancel.set()  # the consumer left early: stop generating for nobody

    def _work(self, loop: asyncio.AbstractEventLoop, events: asyncio.Queue, job: _Job,
              messages: list[Message] | PreparedRequest, request: dict) -> None:
        """The worker thread: the events to the loop in batches, then the slot back."""

        def post(item) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:
                pass  # the loop is closed (shutdown): nobody is listening any more

        pending: list[ChatEvent] = []
        flushed = 0.0  # so the first event goes at once
        try:
            # closing(): an exception or an early end still releases the model's lock.
            source = (self.model.stream_prepared(messages, job.cancel) if isinstance(messages, PreparedRequest)
                      else self.model.stream(messages, cancel=job.cancel, **request))
            with closing(source) as stream:
                for event in stream:
                    pending.append(event)
                    now = time.monotonic()
                    if now - flushed >= self.stream_interval or isinstance(event, Finished):
                        post(pending)
                        pending, flushed = [], now
        except BaseException as exc:  # every failure is reported to the waiting request
            if pending:
                post(pending)
            post(Failure(exc))
        finally:
            try:
                loop.call_soon_threadsafe(self._finished, job)
            except RuntimeError:
                pass

    def _finished(self, job: _Job) -> None:
        self._jobs.discard(job)
        elapsed = asyncio.get_running_loop().time() - job.started
        self._average_seconds += _SMOOTHING * (elapsed - self._average_seconds)
        self._slot.release()

    async def close(self, timeout: float = 10.0) -> None:
        """Refuse new work, cancel every generation (its response ends normally, with what was
        generated) and wait for its thread, so no thread is inside llama.cpp at exit."""
        self.closing = True
        threads = []
        for job in list(self._jobs):
            job.cancel.set()
            if job.thread is not None:
                threads.append(job.thread)
        if threads:
            await asyncio.to_thread(_join, threads, timeout)


def _shutting_down() -> APIError:
    return APIError(503, "The server is shutting down.", code="shutting_down", headers={"Retry-After": "5"})


def _join(threads: list[threading.Thread], timeout: float) -> None:
    for thread in threads:
        thread.join(timeout)


async def drain(events: asyncio.Queue) -> AsyncIterator[list]:
    """The batches a worker puts on `events`, up to the one ending in Finished; a Failure it
    puts there is raised here, in the consumer."""
    while True:
        batch = await events.get()
        if isinstance(batch, Failure):
            raise batch.error
        yield batch
        if isinstance(batch[-1], Finished):
            return
