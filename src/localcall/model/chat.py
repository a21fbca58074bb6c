"""ChatModel: one loaded model that answers chat requests with (constrained) tool calls.

This layer composes the ones below it: formats (prompt, parser), grammars (the constraint)
and runtime (a backend and the token loop). The whole request flow, in order: messages + tools → the family renders the prompt with the
model's template → the prompt is tokenized → the grammar for this tool_choice is compiled
(cached) → the generation loop runs with the grammar as its logits hook → the family's parser
turns the text into content / reasoning / tool-call events → calls are checked once more with
jsonschema → a ChatResult.

Concurrency: a model instance runs one generation at a time. `stream()` holds `self.lock`
from its first token to its last (or until the caller closes the generator); other callers
block on it. The server puts a bounded queue in front of this lock. A batching backend
(`parallel` > 1, runtime/batch.py) instead leases each generation a sequence of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import formats
from ..grammars import DEFAULT_ENGINE, decision, make_engine
from ..grammars.errors import GrammarEngineError
from ..grammars.schema import SchemaError, check_tool, validate_instance
from ..grammars.spec import build_response_format_grammar, build_tool_grammar, json_node
from ..messages import (ChatEvent, ChatResult, ContentDelta, Finished, MalformedToolCall, Message,
                        ReasoningDelta, ToolCall, ToolCallDelta, ToolCallEnd, ToolCallStart, ToolChoice,
                        ToolSpec, Usage)
from ..runtime.backend import Backend, open_backend
from ..runtime.generate import Generation
from ..runtime.registry import ModelSpec, Registry, load_registry
from ..runtime.sampling import SamplingParams
from ..runtime.sources import resolve
from .grounding import Grounding, UngroundedCallFilter
from .repeats import RepeatedCallFilter
from .results import ResultAssembler

log = logging.getLogger("localcall")


class RequestError(ValueError):
    """The request cannot be served as asked (the server answers 400). `param` names the field,
    `code` is the error code clients see (None for most)."""

    code: str | None = None

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class ConstraintFailed(RequestError):
    """The grammar engine stopped a generation under way. A bug of ours or of the engine's,
    but one that the request's schema brought out: the client gets a 400 that says so (never a
    500), and the server log gets the engine's state."""

    code = "grammar_engine_error"


@dataclass(frozen=True)
class PreparedRequest:
    prompt: list[int]
    tools: list[ToolSpec]
    params: SamplingParams
    grammar: object | None  # a grammars.spec node
    parse_tools: bool
    drop_repeated_calls: bool = True
    # The closing marker of a reasoning block the prompt opened (Qwen 3.5's template writes
    # "<think>" itself): the output starts inside it.
    inside_reasoning: str | None = None
    # With params.grounded_calls in tool_choice="auto": what the first call is judged against,
    # and the answer-only request the turn runs instead when it is ungrounded (model/grounding.py).
    grounding: Grounding | None = None
    answer_instead: "PreparedRequest | None" = None


class ChatModel:
    def __init__(self, spec: ModelSpec, backend: Backend, *, engine: str = DEFAULT_ENGINE):
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.template = _template_for(spec, backend)
        self.format_name = spec.chat_format or formats.detect_format(self.template, backend.special)
        self.format = formats.get_format(self.format_name, self.template)
        self.engine_name = engine
        self._engine = None
        self.lock = threading.Lock()
        self.defaults = SamplingParams().with_overrides(**spec.sampling)

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, name_or_path: str | None = None, *, registry: Registry | None = None,
             engine: str = DEFAULT_ENGINE, n_ctx: int | None = None, progress: bool = True,
             parallel: int | None = 1, cache_tokens: int | None = None) -> "ChatModel":
        """parallel: generations at once (runtime/batch.py; llama.cpp only); 1 runs one at a
        time, None the backend's default (runtime.backend.DEFAULT_PARALLEL). cache_tokens: the
        KV cells those generations share (default: the context, n_ctx)."""
        registry = registry or load_registry()
        spec = registry.get(name_or_path)
        path = resolve(spec, registry, progress=progress)
        backend = open_backend(spec.backend, path, parallel=parallel, cache_tokens=cache_tokens,
                               n_ctx=n_ctx or spec.context_length, threads=spec.threads, gpu_layers=spec.gpu_layers)
        model = cls(spec, backend, engine=engine)
        model.engine  # built now (it walks the vocabulary), not inside the first request
        return model

    @property
    def engine(self):
        if self._engine is None:
            self._engine = make_engine(self.engine_name, self.backend)
        return self._engine

    # --- requests --------------------------------------------------------------------------

    def prepare(self, messages: list[Message], *, tools=None, tool_choice=None, parallel_tool_calls: bool = True,
                response_format: dict | None = None, constrained: bool = True, allow_repeated_calls: bool = False,
                **sampling) -> PreparedRequest:
        """Everything up to generation; raises RequestError for a request that cannot be served.

        allow_repeated_calls: keep a call that repeats an earlier call of the same message
        (by default it is dropped and generation stops there: see RepeatedCallFilter)."""
        specs = [t if isinstance(t, ToolSpec) else ToolSpec.from_openai(t) for t in (tools or [])]
        try:
            choice = ToolChoice.parse(tool_choice)
        except ValueError as exc:
            raise RequestError(str(exc), "tool_choice") from None
        names = [t.name for t in specs]
        if len(set(names)) != len(names):
            raise RequestError("two tools share one name", "tools")
        if choice.mode in ("required", "named") and not specs:
            raise RequestError(f"tool_choice={choice.mode!r} needs at least one tool", "tool_choice")
        if choice.mode == "named" and choice.name not in names:
            raise RequestError(f"tool_choice names {choice.name!r}, which is not among the tools", "tool_choice")
        syntax = self.format.call_syntax(self.backend.special)
        # "none" hides the tools, except where answers are JSON anyway (the generic family):
        # there the prompt keeps its protocol and the grammar allows only the answer form,
        # unless the request asks for its own answer form (response_format).
        offered = specs if choice.mode != "none" or (syntax.answer_schema is not None and not response_format) else []
        # Such a family keeps its protocol, answer form only, in a request without tools that
        # follows calls (formats/generic.py says why): its history shows calls as JSON.
        answer_only = (syntax.answer_schema is not None and not offered and formats.uses_tools(messages, None)
                       and not response_format)
        try:
            params = self.defaults.with_overrides(**sampling)
            params.validate()
            params.check_vocabulary(self.backend.n_vocab)
        except (TypeError, ValueError) as exc:
            raise RequestError(str(exc)) from None
        for tool in offered:  # each alone and before the prompt is made, so an error names the tool
            self._check_tool(tool, compile=constrained)
        try:
            text = self.format.render(messages, offered or None, template=self.template, special=self.backend.special)
        except (formats.TemplateError, ValueError) as exc:  # ValueError: content the family cannot render
            raise RequestError(f"the chat template could not render these messages: {exc}", "messages") from None
        self._check_prompt_text(text)
        inside = formats.open_reasoning(text, syntax.reasoning)
        add_bos = self.backend.adds_bos and not (self.backend.special.bos and text.startswith(self.backend.special.bos))
        prompt = self.backend.tokenize(text, add_bos=add_bos)
        if len(prompt) >= self.backend.n_ctx:
            raise RequestError(f"the prompt has {len(prompt)} tokens; the context of {self.name} holds "
                               f"{self.backend.n_ctx}", "messages")
        grammar = None
        if constrained:
            try:
                if offered:
                    grammar = build_tool_grammar(syntax, offered, choice,
                                                 parallel=parallel_tool_calls, special=self.backend.special,
                                                 control_ids=self.backend.special.control_ids, inside_reasoning=inside)
                elif answer_only:
                    grammar = json_node(syntax.answer_schema)
                else:
                    grammar = build_response_format_grammar(response_format)
                if grammar is not None:
                    self.engine.compile(grammar)
            except ValueError as exc:  # SchemaError included: it names the tool and field
                raise RequestError(str(exc), "tools" if offered else "response_format") from None
        grounding = instead = None
        if params.grounded_calls and choice.mode == "auto" and offered:
            grounding = Grounding.of(messages, offered)
            instead = self.prepare(messages, tools=specs, tool_choice="none", parallel_tool_calls=parallel_tool_calls,
                                   response_format=response_format, constrained=constrained,
                                   **{**sampling, "grounded_calls": False})
        return PreparedRequest(prompt=prompt, tools=offered, params=params, grammar=grammar,
                               parse_tools=bool(offered) or answer_only, drop_repeated_calls=not allow_repeated_calls,
                               inside_reasoning=inside, grounding=grounding, answer_instead=instead)

    def _check_prompt_text(self, text: str) -> None:
        """Refusals that need no tokenizer: text that cannot be encoded, and text so long that
        no tokenization could fit the context (tokenizing megabytes takes seconds)."""
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise RequestError(f"the messages contain a lone surrogate ({text[exc.start]!r} at character "
                               f"{exc.start} of the prompt), which is not valid Unicode text", "messages") from None
        if size > self.backend.n_ctx * self._max_token_bytes:
            raise RequestError(f"the prompt is {size} bytes long; the context of {self.name} holds "
                               f"{self.backend.n_ctx} tokens of at most {self._max_token_bytes} bytes each", "messages")

    @functools.cached_property
    def _max_token_bytes(self) -> int:
        return max(len(self.backend.token_bytes(t)) for t in range(self.backend.n_vocab))

    def _check_tool(self, tool: ToolSpec, *, compile: bool) -> None:
        where = f"tool {tool.name!r} parameters"
        try:
            check_tool(tool)
            if not compile:
                return
            try:
                self.engine.compile(json_node(tool.parameters))
            except SchemaError as exc:
                raise SchemaError(exc.reason, where=where, path=exc.path) from None
        except SchemaError as exc:
            raise RequestError(str(exc), "tools") from None

    def stream(self, messages: list[Message], *, cancel: threading.Event | None = None, **request) -> Iterator[ChatEvent]:
        """Events as they are generated, ending with Finished(result)."""
        yield from self.stream_prepared(self.prepare(messages, **request), cancel)

    def stream_prepared(self, prepared: PreparedRequest,
                        cancel: threading.Event | None = None) -> Iterator[ChatEvent]:
        """Generation for a request prepared by `prepare`, or elsewhere (the server's raw completions)."""
        with self._session() as backend:
            yield from self._run(prepared, cancel, backend)

    def chat(self, messages: list[Message], **request) -> ChatResult:
        for event in self.stream(messages, **request):
            if isinstance(event, Finished):
                return event.result
        raise AssertionError("stream ended without Finished")

    @contextmanager
    def _session(self):
        """What one generation runs on: a sequence of its own when the backend batches
        (runtime/batch.py), else the backend itself, under the lock."""
        if hasattr(self.backend, "lease"):
            with self.backend.lease() as sequence:
                yield sequence
        else:
            with self.lock:
                yield self.backend

    def _run(self, req: PreparedRequest, cancel: threading.Event | None, backend: Backend) -> Iterator[ChatEvent]:
        hook = self.engine.constraint(req.grammar) if req.grammar is not None else None
        hook = decision.biased(hook, self.format.call_syntax(self.backend.special), self.backend, req.params.answer_bias)
        parser = self.format.parser(req.tools) if req.parse_tools else None
        if parser is not None and req.inside_reasoning:
            parser.begin_in_reasoning(req.inside_reasoning)
        repeats = RepeatedCallFilter() if parser and req.drop_repeated_calls else None
        ungrounded = UngroundedCallFilter(req.grounding) if parser and req.grounding else None
        gen = Generation(backend, req.prompt, req.params, hook=hook, cancel=cancel)
        assembler = ResultAssembler(req.tools, self.format.call_id_style)
        try:
            for token in gen:
                if token.logprob is not None:  # before the token's text events: the server attaches it to them
                    yield token.logprob
                if not token.text:
                    continue
                events = parser.feed(token.text) if parser else [ContentDelta(token.text)]
                if repeats is not None:
                    events = repeats.take(events)
                if ungrounded is not None:
                    events = ungrounded.take(events)
                yield from assembler.take(events)
                if (repeats is not None and repeats.repeated) or (ungrounded is not None and ungrounded.dropped):
                    break  # the message is complete without that call: stop generating
        except GrammarEngineError as exc:
            log.error("%s stopped after %d tokens of %s\n%s", exc, gen.completion_tokens, self.name, exc.summary())
            raise ConstraintFailed(f"generation stopped: {exc}. The request's schema may use something the "
                                   f"grammar engine cannot follow; the server log has the details.") from None
        tail = []
        if parser and not (repeats and repeats.repeated) and not (ungrounded and ungrounded.dropped):
            tail = parser.finish()
            if ungrounded is not None:
                tail = ungrounded.take(tail) + ungrounded.flush()
        if ungrounded is not None and ungrounded.dropped and not ungrounded.said:
            # The turn's call took nothing from the conversation: it answers instead.
            yield from _spent(self._run(req.answer_instead, cancel, backend), gen.completion_tokens)
            return
        yield from assembler.take(tail)
        assembler.repeated_calls_dropped = repeats.repeated if repeats else 0
        stats = backend.stats
        usage = Usage(prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                      cached_tokens=stats.reused_tokens, forced_tokens=gen.forced_tokens)
        yield Finished(assembler.result(gen.finish_reason or "stop", usage))

    def describe(self) -> dict[str, str]:
        cache = getattr(self.backend, "prompt_cache", None)  # batched backends only
        return {"name": self.name, "backend": self.backend.name, "format": self.format_name,
                "engine": self.engine_name, "parallel": str(getattr(self.backend, "slots", 1)),
                **({"prompt_cache_mib": str(cache.budget >> 20)} if cache is not None else {}),
                **self.backend.metadata()}


def _spent(events: Iterator[ChatEvent], tokens: int) -> Iterator[ChatEvent]:
    """`events` with `tokens` more completion tokens in the final usage (a generation given up)."""
    for event in events:
        if isinstance(event, Finished):
            usage = event.result.usage
            event = Finished(dataclasses.replace(event.result, usage=dataclasses.replace(
                usage, completion_tokens=usage.completion_tokens + tokens)))
        yield event


def _template_for(spec: ModelSpec, backend: Backend) -> str | None:
    if spec.chat_template is None:
        return backend.chat_template
    if spec.chat_template.startswith("builtin:"):
        return formats.load_builtin_template(spec.chat_template.removeprefix("builtin:"))
    path = Path(spec.chat_template).expanduser()
    if not path.is_absolute():
        path = Path(spec.registry_file).parent / path
    return path.read_text(encoding="utf-8")
