"""The FastAPI application: /v1/chat/completions, /v1/models, /v1/models/{id}, /health.

A chat request, in order: the API key names the principal (401) → the body is validated
(400) → the model is looked up (404) → the request is admitted to the model's queue (429) →
its events start: the slot is awaited (503 past the deadline), the prompt prepared (400
from the runtime: too long, bad schema, unknown named tool) and the first event generated.
Only then is the response begun, so every refusal is a real HTTP status and not an error
inside a 200 stream. While waiting, a client that disconnects cancels the request; once
streaming, Starlette notices the disconnect and closing the event stream cancels the
generation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Mapping

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from .. import __version__
from ..messages import ChatEvent, ChatResult, Finished
from ..runtime.chat import ChatModel, RequestError
from . import errors
from .auth import Auth
from .bodylimit import DEFAULT_MAX_BODY, BodyLimit
from .catalog import Catalog
from .errors import APIError, bad_request
from .queue import ModelQueue
from .requestlog import CLIENT_CLOSED, STATE_KEY, RequestLog, RequestStats
from ..runtime.sampling import TokenLogprob
from .fingerprint import system_fingerprint
from .schemas import (ChatCompletion, ChatRequest, ChoiceLogprobs, ExecutedToolCall, LocalcallExtension, ModelCard,
                      ModelList, completion, completion_id, for_choice, logprob_entries, now, total_usage)
from .streaming import ChunkWriter
from .tools import ServerTools, ToolExecuted

log = logging.getLogger("localcall.server")


@dataclass
class ServerSettings:
    auth: Auth = field(default_factory=Auth)  # no key required; Auth.for_binding decides for a host
    max_waiting: int = 8  # requests queued per model behind the one generating; more get 429
    request_timeout: float = 600.0  # seconds from admission to the last token, queueing included
    # Used when a request sets no max_tokens: small models can loop until the context is full,
    # holding the model for minutes.
    default_max_tokens: int | None = 4096
    tools: ServerTools | None = None  # server-side tools (--tools)
    # Seconds between two writes of a stream (the first token goes at once): see queue.py.
    stream_interval: float = 0.02
    max_body_bytes: int = DEFAULT_MAX_BODY  # larger request bodies get 413 before being read


class _ClientGone(Exception):
    pass


def create_app(models: Mapping[str, ChatModel], settings: ServerSettings | None = None) -> FastAPI:
    """The app serving `models` under their ids (the names clients put in `model`)."""
    settings = settings or ServerSettings()
    catalog = Catalog(models, max_waiting=settings.max_waiting, stream_interval=settings.stream_interval)

    async def lifespan(app: FastAPI):
        yield
        await catalog.close()  # cancel generations and wait for their threads

    # separate_input_output_schemas=False: the response models' serializers only drop absent
    # fields, so their validation schema documents them; the serialization one would be opaque.
    app = FastAPI(title="localcall", version=__version__, lifespan=lifespan, separate_input_output_schemas=False,
                  description="OpenAI-compatible Chat Completions with grammar-constrained tool calls.")
    app.state.catalog = catalog
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)  # added last, so outermost: it logs the 413s too

    def principal(request: Request) -> str:
        return settings.auth.principal(request.headers.get("authorization"))

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models", response_model=ModelList)
    async def list_models(_: str = Depends(principal)) -> ModelList:
        return ModelList(data=catalog.cards())

    @app.get("/v1/models/{model_id:path}", response_model=ModelCard)
    async def get_model(model_id: str, _: str = Depends(principal)) -> ModelCard:
        return catalog.card(model_id)

    @app.post("/v1/chat/completions", response_model=None,
              responses={200: {"model": ChatCompletion, "content": {"text/event-stream": {}},
                               "description": "A completion, or with stream=true its chunks as server-sent events"}})
    async def chat_completions(body: ChatRequest, request: Request, who: str = Depends(principal)) -> Response:
        queue = catalog.get(body.model)
        stats = RequestStats(model=body.model, principal=who)
        setattr(request.state, STATE_KEY, stats)
        events = _events(body, queue, who, settings)
        streaming = False
        try:
            first = await _unless_disconnected(request, anext(events))
            cid, created = completion_id(), now()
            fingerprint, token_bytes = system_fingerprint(queue.model), queue.model.backend.token_bytes
            if body.stream:
                writer = ChunkWriter(cid, body.model, created, fingerprint, token_bytes)
                streaming = True  # the response owns the events now; the background task closes them
                return StreamingResponse(_sse(writer, first, events, body.choices, body.include_usage, stats),
                                         media_type="text/event-stream", background=BackgroundTask(events.aclose),
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            results, logprobs, executed = await _unless_disconnected(request, _collect(first, events, body.choices))
        except _ClientGone:
            return Response(status_code=CLIENT_CLOSED)
        finally:
            if not streaming:
                await events.aclose()  # whatever happened: cancel the generation, free the place
        stats.record(replace(results[-1], usage=total_usage(results)), len(executed))
        wire = [ChoiceLogprobs(content=logprob_entries(lp, token_bytes)) for lp in logprobs] if body.logprobs else None
        return JSONResponse(completion(cid, body.model, created, results, _extension(executed), fingerprint=fingerprint,
                                       logprobs=wire).model_dump(mode="json"))

    return app


Batch = list[ChatEvent | ToolExecuted | TokenLogprob]


async def _events(body: ChatRequest, queue: ModelQueue, who: str, settings: ServerSettings) -> AsyncIterator[Batch]:
    """The request's events in batches, from the model directly or through the server-side
    tools loop; with n > 1 each choice's events in turn, each ending with its Finished. The
    queue place is taken on the first step (429 from there), so a generator never started
    holds nothing; closing it cancels the generation and gives the place back."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    deadline = loop.time() + settings.request_timeout
    # A request without max_tokens gets the model's own cap (models.toml), else the server's.
    options = body.options(queue.model.defaults.max_tokens or settings.default_max_tokens)
    messages = body.runtime_messages()
    ticket = queue.admit()
    try:
        for index in range(body.choices):
            if settings.tools is not None and settings.tools.available_to(who):
                source = settings.tools.run(queue, messages, principal=who, client_tools=body.client_tools(),
                                            tool_choice=body.tool_choice_value(), cancel=cancel, deadline=deadline,
                                            options=for_choice(options, index))
            else:
                source = queue.stream(messages, cancel=cancel, deadline=deadline, tools=body.client_tools(),
                                      tool_choice=body.tool_choice_value(), **for_choice(options, index))
            async with aclosing(source):
                async for batch in source:
                    yield batch
    except RequestError as exc:
        raise bad_request(str(exc), exc.param) from None
    finally:
        ticket.release()


async def _unless_disconnected(request: Request, work: Awaitable[Any]) -> Any:
    """Await `work`, cancelling it (and so the generation) if the client hangs up first."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise _ClientGone()
    return task.result()


async def _disconnect(request: Request) -> None:
    # The body has been read, so the next ASGI message can only be the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _collect(first: Batch, events: AsyncIterator[Batch], choices: int
                   ) -> tuple[list[ChatResult], list[list[TokenLogprob]], list[ToolExecuted]]:
    """The results of the `choices` generations, the logprobs of each, and what the server ran."""
    executed: list[ToolExecuted] = []
    results: list[ChatResult] = []
    logprobs: list[list[TokenLogprob]] = [[]]
    async with aclosing(events):
        batch = first
        while True:
            for event in batch:
                if isinstance(event, Finished):
                    results.append(event.result)
                    if len(results) == choices:
                        return results, logprobs, executed
                    logprobs.append([])
                elif isinstance(event, TokenLogprob):
                    logprobs[-1].append(event)
                elif isinstance(event, ToolExecuted):
                    executed.append(event)
            batch = await anext(events)


async def _sse(writer: ChunkWriter, first: Batch, events: AsyncIterator[Batch], choices: int, include_usage: bool,
               stats: RequestStats) -> AsyncIterator[str]:
    """One write per batch: every chunk of the batch, and at the end the final chunks."""
    executed: list[ToolExecuted] = []
    results: list[ChatResult] = []
    stats.finish_reason = "client_closed"  # until the stream ends otherwise
    async with aclosing(events):
        out = [writer.role()]
        batch = first
        try:
            while True:
                for event in batch:
                    if isinstance(event, Finished):
                        results.append(event.result)
                        stats.record(replace(event.result, usage=total_usage(results)), len(executed))
                        out.append(writer.finish(event.result, _extension(executed)))
                        if len(results) < choices:
                            out.append(writer.role(len(results)))
                            continue
                        out.append(writer.end(total_usage(results) if include_usage else None))
                        yield "".join(out)
                        return
                    if isinstance(event, ToolExecuted):
                        executed.append(event)
                    else:
                        chunk = writer.event(event)
                        if chunk is not None:
                            out.append(chunk)
                if out:
                    yield "".join(out)
                    out = []
                batch = await anext(events)
        except APIError as exc:  # the status line is sent: the error travels as a chunk
            stats.finish_reason = f"error {exc.status}"
            yield "".join(out) + writer.error(exc)
        except Exception as exc:
            log.exception("stream failed")
            stats.finish_reason = "error 500"
            yield "".join(out) + writer.error(APIError(500, f"The server had an error while streaming "
                                                            f"({type(exc).__name__})."))


def _extension(executed: list[ToolExecuted]) -> LocalcallExtension | None:
    if not executed:
        return None
    return LocalcallExtension(executed_tool_calls=[
        ExecutedToolCall(id=e.call.id, name=e.call.name, arguments=e.call.arguments, status=e.outcome.status,
                         content=e.outcome.content, error=e.outcome.error) for e in executed])
