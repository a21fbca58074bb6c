"""The generations one request runs (n choices, several prompts), one after the other in the
model's queue, and the response made of them: whole, or streamed by an endpoint's writer.

`generations` takes the queue place on its first step (429 from there), so a generator never
started holds nothing; closing it cancels the running generation and gives the place back.
Each generation's events come in batches ending with its Finished; the runtime's
RequestError becomes a 400.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import aclosing
from dataclasses import replace
from typing import AsyncIterator, Callable, Protocol, Sequence

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from ..messages import ChatEvent, ChatResult, Finished
from ..model import RequestError
from ..runtime.sampling import TokenLogprob
from .disconnect import ClientGone, unless_disconnected
from .errors import APIError, bad_request
from .queue import ModelQueue
from .requestlog import CLIENT_CLOSED, RequestStats
from .schemas import total_usage
from .tools import ToolExecuted

log = logging.getLogger("localcall.server")

Batch = list[ChatEvent | ToolExecuted | TokenLogprob]
# One generation, started with the request's cancel event and deadline (loop time).
Start = Callable[[threading.Event, float], AsyncIterator[Batch]]


async def generations(queue: ModelQueue, timeout: float, starts: Sequence[Start]) -> AsyncIterator[Batch]:
    """The batches of every generation in `starts`, in order, within one deadline."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    deadline = loop.time() + timeout
    ticket = queue.admit()
    try:
        for start in starts:
            source = start(cancel, deadline)
            async with aclosing(source):
                async for batch in source:
                    yield batch
    except RequestError as exc:
        raise bad_request(str(exc), exc.param, exc.code) from None
    finally:
        ticket.release()


async def collect(first: Batch, events: AsyncIterator[Batch], count: int
                  ) -> tuple[list[ChatResult], list[list[TokenLogprob]], list[ToolExecuted]]:
    """The results of `count` generations, the logprobs of each, and what the server ran."""
    executed: list[ToolExecuted] = []
    results: list[ChatResult] = []
    logprobs: list[list[TokenLogprob]] = [[]]
    async with aclosing(events):
        batch = first
        while True:
            for event in batch:
                if isinstance(event, Finished):
                    results.append(event.result)
                    if len(results) == count:
                        return results, logprobs, executed
                    logprobs.append([])
                elif isinstance(event, TokenLogprob):
                    logprobs[-1].append(event)
                elif isinstance(event, ToolExecuted):
                    executed.append(event)
            batch = await anext(events)


class StreamWriter(Protocol):
    """How an endpoint spells its stream (chat chunks, completion chunks, Responses events)."""

    def begin(self, index: int = 0) -> str: ...  # before generation `index`
    def event(self, event: ChatEvent | TokenLogprob) -> str | None: ...
    def executed(self, call: ToolExecuted) -> str | None: ...  # a server-side call, as soon as it ran
    def finish(self, result: ChatResult, executed: list[ToolExecuted]) -> str: ...  # after each generation
    def end(self, results: list[ChatResult]) -> str: ...  # after the last
    def error(self, exc: APIError) -> str: ...


Whole = Callable[[list[ChatResult], list[list[TokenLogprob]], list[ToolExecuted]], Response]


async def respond(request: Request, events: AsyncIterator[Batch], count: int, stats: RequestStats, whole: Whole,
                  writer: StreamWriter | None) -> Response:
    """The response to `count` generations: their first event is awaited first, so a refusal
    is a real HTTP status; then the stream (with a writer) or the whole response. While
    waiting, a client that disconnects cancels the generation; once streaming, Starlette
    notices the disconnect and closing the events cancels it."""
    streaming = False
    try:
        first = await unless_disconnected(request, anext(events))
        if writer is not None:
            streaming = True  # the response owns the events now; the background task closes them
            return StreamingResponse(sse_stream(writer, first, events, count, stats),
                                     media_type="text/event-stream", background=BackgroundTask(events.aclose),
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        collected = await unless_disconnected(request, collect(first, events, count))
    except ClientGone:
        return Response(status_code=CLIENT_CLOSED)
    finally:
        if not streaming:
            await events.aclose()  # whatever happened: cancel the generation, free the place
    return whole(*collected)


async def sse_stream(writer: StreamWriter, first: Batch, events: AsyncIterator[Batch], count: int,
                     stats: RequestStats) -> AsyncIterator[str]:
    """One write per batch: what the writer makes of every event of the batch, and at the end
    its closing events."""
    executed: list[ToolExecuted] = []
    results: list[ChatResult] = []
    stats.finish_reason = "client_closed"  # until the stream ends otherwise
    async with aclosing(events):
        out = [writer.begin()]
        batch = first
        try:
            while True:
                for event in batch:
                    if isinstance(event, Finished):
                        results.append(event.result)
                        stats.record(replace(event.result, usage=total_usage(results)), len(executed))
                        out.append(writer.finish(event.result, executed))
                        if len(results) < count:
                            out.append(writer.begin(len(results)))
                            continue
                        out.append(writer.end(results))
                        yield "".join(out)
                        return
                    if isinstance(event, ToolExecuted):
                        executed.append(event)
                        chunk = writer.executed(event)
                    else:
                        chunk = writer.event(event)
                    if chunk is not None:
                        out.append(chunk)
                if out:
                    yield "".join(out)
                    out = []
                batch = await anext(events)
        except APIError as exc:  # the status line is sent: the error travels in the stream
            stats.finish_reason = f"error {exc.status}"
            yield "".join(out) + writer.error(exc)
        except Exception as exc:
            log.exception("stream failed")
            stats.finish_reason = "error 500"
            yield "".join(out) + writer.error(APIError(500, f"The server had an error while streaming "
                                                            f"({type(exc).__name__})."))
