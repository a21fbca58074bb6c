"""The FastAPI application: /v1/chat/completions, /v1/models, /v1/models/{id}, /health; and
/v1/completions (completions.py), /v1/embeddings (embeddings.py), /v1/responses (responses.py).

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

import threading
from dataclasses import dataclass, field, replace
from typing import AsyncIterator, Awaitable, Callable, Mapping

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..messages import ChatResult
from ..model import ChatModel
from . import completions, embeddings, errors, responses
from .auth import Auth
from .bodylimit import DEFAULT_MAX_BODY, BodyLimit
from .catalog import Catalog
from .fingerprint import system_fingerprint
from .generations import Batch, Start, generations, respond
from .queue import ModelQueue
from .requestlog import STATE_KEY, RequestLog, RequestStats
from .schemas import (ChatCompletion, ChatRequest, ChoiceLogprobs, LocalcallExtension, ModelCard,
                      ModelList, completion, completion_id, for_choice, logprob_entries, now, total_usage)
from .streaming import ChunkWriter
from .tools import ServerTools
from .ui import UiSettings, install_ui


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
    responses_db: str | None = None  # SQLite file of stored Responses; None: next to the audit log
    ui: UiSettings | None = field(default_factory=UiSettings)  # the playground at / (None: --no-ui)
    health: Callable[[], Awaitable[dict]] | None = None  # more for /health to report (Ray: the replicas)


def create_app(models: Mapping[str, ChatModel], settings: ServerSettings | None = None) -> FastAPI:
    """The app serving `models` under their ids (the names clients put in `model`)."""
    settings = settings or ServerSettings()
    catalog = Catalog(models, max_waiting=settings.max_waiting, stream_interval=settings.stream_interval)

    async def lifespan(app: FastAPI):
        yield
        await catalog.close()  # cancel generations and wait for their threads

    # separate_input_output_schemas=False: the response models' serializers only drop absent
    # fields, so their validation schema documents them; the serialization one would be opaque.
    # The API's description is served by our own routes below, behind the same keys as the API.
    app = FastAPI(title="localcall", version=__version__, lifespan=lifespan, separate_input_output_schemas=False,
                  description="OpenAI-compatible Chat Completions with grammar-constrained tool calls.",
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.catalog = catalog
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)  # added last, so outermost: it logs the 413s too

    def principal(request: Request) -> str:
        return settings.auth.principal(request.headers.get("authorization"))

    install_ui(app, settings)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", **(await settings.health() if settings.health else {})}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(_: str = Depends(principal)) -> JSONResponse:
        return JSONResponse(errors.without_422(app.openapi()))

    @app.get("/docs", include_in_schema=False)
    async def docs_page(_: str = Depends(principal)) -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="localcall API")

    @app.get("/v1/models", response_model=ModelList, responses=errors.error_responses(401))
    async def list_models(_: str = Depends(principal)) -> ModelList:
        return ModelList(data=catalog.cards())

    @app.get("/v1/models/{model_id:path}", response_model=ModelCard, responses=errors.error_responses(401, 404))
    async def get_model(model_id: str, _: str = Depends(principal)) -> ModelCard:
        return catalog.card(model_id)

    @app.post("/v1/chat/completions", response_model=None,
              responses={200: {"model": ChatCompletion, "content": {"text/event-stream": {}},
                               "description": "A completion, or with stream=true its chunks as server-sent events"},
                         **errors.error_responses(400, 401, 404, 413, 429, 503)})
    async def chat_completions(body: ChatRequest, request: Request, who: str = Depends(principal)) -> Response:
        queue = catalog.get(body.model)
        stats = RequestStats(model=body.model, principal=who)
        setattr(request.state, STATE_KEY, stats)
        events = _events(body, queue, who, settings)
        cid, created = completion_id(), now()
        fingerprint, token_bytes = system_fingerprint(queue.model), queue.model.backend.token_bytes

        def whole(results: list[ChatResult], logprobs: list, executed: list) -> Response:
            stats.record(replace(results[-1], usage=total_usage(results)), len(executed))
            wire = [ChoiceLogprobs(content=logprob_entries(lp, token_bytes)) for lp in logprobs] if body.logprobs \
                else None
            return JSONResponse(completion(cid, body.model, created, results, LocalcallExtension.of(results, executed),
                                           fingerprint=fingerprint, logprobs=wire).model_dump(mode="json"))

        writer = ChunkWriter(cid, body.model, created, fingerprint, token_bytes, include_usage=body.include_usage)
        return await respond(request, events, body.choices, stats, whole, writer if body.stream else None)

    completions.install(app, catalog, settings, principal)
    embeddings.install(app, catalog, settings, principal)
    responses.install(app, catalog, settings, principal)
    return app


def _events(body: ChatRequest, queue: ModelQueue, who: str, settings: ServerSettings) -> AsyncIterator[Batch]:
    """The request's events in batches, from the model directly or through the server-side
    tools loop; with n > 1 each choice's events in turn, each ending with its Finished."""
    # A request without max_tokens gets the model's own cap (models.toml), else the server's.
    options = body.options(queue.model.defaults.max_tokens or settings.default_max_tokens)
    messages = body.runtime_messages()
    server_tools = settings.tools if settings.tools is not None and settings.tools.available_to(who) else None

    def choice(index: int) -> Start:
        def start(cancel: threading.Event, deadline: float) -> AsyncIterator[Batch]:
            if server_tools is not None:
                return server_tools.run(queue, messages, principal=who, client_tools=body.client_tools(),
                                        tool_choice=body.tool_choice_value(), cancel=cancel, deadline=deadline,
                                        options=for_choice(options, index))
            return queue.stream(messages, cancel=cancel, deadline=deadline, tools=body.client_tools(),
                                tool_choice=body.tool_choice_value(), **for_choice(options, index))
        return start

    return generations(queue, settings.request_timeout, [choice(i) for i in range(body.choices)])
