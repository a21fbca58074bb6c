"""POST /v1/completions: the legacy text completion API, for clients that still send it.

The prompt is taken as raw text (no chat template): a string, a list of strings, a token
array or a list of token arrays, each tokenized as llama-server does (special tokens
written in the text are read as such). Each prompt gets `n` completions, generated one
after the other; choice `i * n + j` is completion j of prompt i. No grammar: completions
are free text. `echo`, `suffix` and `best_of` > n are refused.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from typing import Any, AsyncIterator, Callable, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, field_validator

from ..messages import ChatEvent, ChatResult, ContentDelta
from ..model import ChatModel, PreparedRequest
from ..runtime.sampling import TokenLogprob
from . import errors
from .catalog import Catalog
from .errors import APIError, bad_request
from .fingerprint import system_fingerprint
from .generations import Batch, generations, respond
from .requestlog import STATE_KEY, RequestStats
from .schemas import (MAX_CHOICES, ResponseUsage, SamplingFields, WireModel, client_finish_reason, for_choice, now,
                      total_usage)
from .streaming import DONE, sse

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for this endpoint


class CompletionRequest(SamplingFields):
    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=5)  # the number of alternatives, as this API counts them
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1, le=MAX_CHOICES)

    @field_validator("prompt")
    @classmethod
    def _some_prompt(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("send at least one prompt")
        if isinstance(value, list) and any(isinstance(p, list) and not p for p in value):
            raise ValueError("a token array must hold at least one token")
        return value

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("'echo' is not supported by localcall (send false)")
        return value

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("'suffix' (insertion) is not supported by localcall")
        return value

    @field_validator("best_of")
    @classmethod
    def _best_of_is_n(cls, value: int | None, info) -> int | None:
        if value is not None and value != (info.data.get("n") or 1):
            raise ValueError("'best_of' must equal n: localcall returns every completion it generates")
        return value

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text, or a token array."""
        if isinstance(self.prompt, str) or (self.prompt and isinstance(self.prompt[0], int)):
            return [self.prompt]
        return list(self.prompt)


class CompletionLogprobs(WireModel):
    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class CompletionChoice(WireModel):
    text: str
    index: int
    logprobs: CompletionLogprobs | None = None
    finish_reason: Literal["stop", "length"] | None = None


class TextCompletion(WireModel):
    _sparse = frozenset({"usage"})
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[CompletionChoice]
    usage: ResponseUsage | None = None


def _finish(reason: str) -> str:
    reason = client_finish_reason(reason)
    return "stop" if reason == "tool_calls" else reason


def legacy_logprobs(items: list[TokenLogprob], token_bytes: Callable[[int], bytes], offset: int) -> CompletionLogprobs:
    """This API's logprobs: parallel lists, the alternatives as {token: logprob} (the chosen
    token among them), character offsets counted from the start of the prompt."""
    out = CompletionLogprobs(tokens=[], token_logprobs=[], top_logprobs=[], text_offset=[])
    so_far = b""
    for item in items:
        raw = token_bytes(item.token)
        out.tokens.append(raw.decode("utf-8", errors="replace"))
        out.token_logprobs.append(item.logprob)
        top = {token_bytes(t).decode("utf-8", errors="replace"): lp for t, lp in item.top}
        top.setdefault(out.tokens[-1], item.logprob)
        out.top_logprobs.append(top)
        out.text_offset.append(offset + len(so_far.decode("utf-8", errors="ignore")))
        so_far += raw
    return out


def prepare(model: ChatModel, prompt: str | list[int], body: CompletionRequest, max_tokens: int | None
            ) -> PreparedRequest:
    """The prompt as tokens and the sampling parameters; APIError 400 for what cannot be served."""
    backend = model.backend
    if isinstance(prompt, str):
        add_bos = backend.adds_bos and not (backend.special.bos and prompt.startswith(backend.special.bos))
        tokens = backend.tokenize(prompt, add_bos=add_bos)
    else:
        tokens = list(prompt)
        if any(not 0 <= t < backend.n_vocab for t in tokens):
            raise bad_request(f"the prompt holds a token id outside the vocabulary of {backend.n_vocab}", "prompt")
    if not tokens:
        raise bad_request("the prompt is empty (and this model adds no beginning-of-text token)", "prompt")
    if len(tokens) >= backend.n_ctx:
        raise bad_request(f"the prompt has {len(tokens)} tokens; the context of {model.name} holds {backend.n_ctx}",
                          "prompt")
    try:
        params = model.defaults.with_overrides(**body.sampling(max_tokens, body.logprobs))
        params.validate()
        params.check_vocabulary(backend.n_vocab)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return PreparedRequest(prompt=tokens, tools=[], params=params, grammar=None, parse_tools=False)


class CompletionWriter:
    """The stream of /v1/completions: text chunks per choice, each choice's last one with its
    finish_reason, then the usage chunk (stream_options.include_usage) and [DONE]."""

    def __init__(self, head: dict, token_bytes: Callable[[int], bytes], offsets: list[int],
                 usage: Callable[[list[ChatResult]], ResponseUsage] | None, logprobs: bool):
        """usage: makes the usage chunk, when stream_options.include_usage asks for one."""
        self.head, self.token_bytes, self.offsets = head, token_bytes, offsets
        self.usage, self.logprobs = usage, logprobs
        self.index = 0
        self._pending: list[TokenLogprob] = []
        self._written = 0  # characters of the current choice sent so far

    def _chunk(self, text: str, finish_reason: str | None = None) -> str:
        logprobs = None
        if self.logprobs:
            logprobs = legacy_logprobs(self._pending, self.token_bytes, self.offsets[self.index] + self._written)
            self._pending = []
        self._written += len(text)
        choice = CompletionChoice(text=text, index=self.index, logprobs=logprobs, finish_reason=finish_reason)
        return sse(TextCompletion(**self.head, choices=[choice]))

    def begin(self, index: int = 0) -> str:
        self.index, self._written = index, 0
        return ""

    def event(self, event: ChatEvent | TokenLogprob) -> str | None:
        if isinstance(event, TokenLogprob):
            self._pending.append(event)
            return None
        if isinstance(event, ContentDelta) and event.text:
            return self._chunk(event.text)
        return None

    def executed(self, call) -> None:
        """Completions run no server-side tools."""
        return None

    def finish(self, result: ChatResult, executed: list) -> str:
        return self._chunk("", _finish(result.finish_reason))

    def end(self, results: list[ChatResult]) -> str:
        if self.usage is None:
            return DONE
        return sse(TextCompletion(**self.head, choices=[], usage=self.usage(results))) + DONE

    @staticmethod
    def error(exc: APIError) -> str:
        return sse(exc.body()) + DONE


def install(app: FastAPI, catalog: Catalog, settings, principal: Callable[..., str]) -> None:
    """Add POST /v1/completions to `app` (settings: the server's ServerSettings)."""

    @app.post("/v1/completions", response_model=None,
              responses={200: {"model": TextCompletion, "content": {"text/event-stream": {}},
                               "description": "A text completion, or with stream=true its chunks as server-sent "
                                              "events"},
                         **errors.error_responses(400, 401, 404, 413, 429, 503)})
    async def completions(body: CompletionRequest, request: Request, who: str = Depends(principal)) -> Response:
        queue = catalog.get(body.model)
        model = queue.model
        stats = RequestStats(model=body.model, principal=who)
        setattr(request.state, STATE_KEY, stats)
        max_tokens = body.max_tokens or DEFAULT_MAX_TOKENS
        prompts = body.prompts()
        prepared = [prepare(model, p, body, max_tokens) for p in prompts]
        # Offsets count from the start of each prompt's text, as OpenAI's do.
        offsets = [len(p if isinstance(p, str) else _text_of(model, p)) for p in prompts for _ in range(body.choices)]

        def start(index: int):
            req = prepared[index // body.choices]
            seeded = replace(req, params=replace(req.params, **_seed(req.params.seed, index % body.choices)))

            def run(cancel: threading.Event, deadline: float) -> AsyncIterator[Batch]:
                return queue.stream(seeded, cancel=cancel, deadline=deadline)
            return run

        count = len(prepared) * body.choices
        events = generations(queue, settings.request_timeout, [start(i) for i in range(count)])
        head = {"id": "cmpl-" + secrets.token_hex(12), "created": now(), "model": body.model,
                "system_fingerprint": system_fingerprint(model)}
        token_bytes = model.backend.token_bytes

        def whole(results: list[ChatResult], logprobs: list[list[TokenLogprob]], executed: list) -> Response:
            stats.record(replace(results[-1], usage=total_usage(results)), 0)
            choices = [CompletionChoice(text=r.content or "", index=i, finish_reason=_finish(r.finish_reason),
                                        logprobs=legacy_logprobs(logprobs[i], token_bytes, offsets[i])
                                        if body.logprobs is not None else None)
                       for i, r in enumerate(results)]
            return JSONResponse(TextCompletion(**head, choices=choices, usage=usage(results)).model_dump(mode="json"))

        def usage(results: list[ChatResult]) -> ResponseUsage:
            total = total_usage(results)
            total.prompt_tokens = sum(len(p.prompt) for p in prepared)  # every prompt was evaluated
            return ResponseUsage.of(total)

        writer = CompletionWriter(head, token_bytes, offsets, usage if body.include_usage else None,
                                  body.logprobs is not None)
        return await respond(request, events, count, stats, whole, writer if body.stream else None)


def _seed(seed: int | None, choice: int) -> dict:
    return for_choice({"seed": seed}, choice)


def _text_of(model: ChatModel, tokens: list[int]) -> str:
    return b"".join(model.backend.token_bytes(t) for t in tokens).decode("utf-8", errors="replace")
