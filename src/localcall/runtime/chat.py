"""ChatModel: one loaded model that answers chat requests with (constrained) tool calls.

The whole request flow, in order: messages + tools → the family renders the prompt with the
model's template → the prompt is tokenized → the grammar for this tool_choice is compiled
(cached) → the generation loop runs with the grammar as its logits hook → the family's parser
turns the text into content / reasoning / tool-call events → calls are checked once more with
jsonschema → a ChatResult.

Concurrency: a model instance runs one generation at a time. `stream()` holds `self.lock`
from its first token to its last (or until the caller closes the generator); other callers
block on it. The server puts a bounded queue in front of this lock.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import formats
from ..grammars import DEFAULT_ENGINE, make_engine
from ..grammars.schema import SchemaError, check_schema, validate_instance
from ..grammars.spec import build_response_format_grammar, build_tool_grammar, json_node
from ..messages import (ChatEvent, ChatResult, ContentDelta, Finished, MalformedToolCall, Message,
                        ReasoningDelta, ToolCall, ToolCallDelta, ToolCallEnd, ToolCallStart, ToolChoice,
                        ToolSpec, Usage)
from .backend import Backend, backend_class
from .generate import Generation
from .registry import ModelSpec, Registry, load_registry
from .sampling import SamplingParams
from .sources import resolve

log = logging.getLogger("localcall")


class RequestError(ValueError):
    """The request cannot be served as asked (the server answers 400). `param` names the field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class PreparedRequest:
    prompt: list[int]
    tools: list[ToolSpec]
    params: SamplingParams
    grammar: object | None  # a grammars.spec node
    parse_tools: bool


class ChatModel:
    def __init__(self, spec: ModelSpec, backend: Backend, *, engine: str = DEFAULT_ENGINE):
        self.spec = spec
        self.name = spec.name
        self.backend = backend
        self.template = _template_for(spec, backend)
        self.format_name = spec.chat_format or formats.detect_format(self.template, backend.special)
        self.format = formats.get_format(self.format_name)
        self.engine_name = engine
        self._engine = None
        self.lock = threading.Lock()
        self.defaults = SamplingParams().with_overrides(**spec.sampling)

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, name_or_path: str | None = None, *, registry: Registry | None = None,
             engine: str = DEFAULT_ENGINE, n_ctx: int | None = None, progress: bool = True) -> "ChatModel":
        registry = registry or load_registry()
        spec = registry.get(name_or_path)
        path = resolve(spec, registry, progress=progress)
        backend = backend_class(spec.backend)(path, n_ctx=n_ctx or spec.context_length, threads=spec.threads,
                                              gpu_layers=spec.gpu_layers)
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
                response_format: dict | None = None, constrained: bool = True, **sampling) -> PreparedRequest:
        """Everything up to generation; raises RequestError for a request that cannot be served."""
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
        # there the prompt keeps its protocol and the grammar allows only the answer form.
        offered = specs if choice.mode != "none" or syntax.answer_schema is not None else []
        try:
            params = self.defaults.with_overrides(**sampling)
            params.validate()
            params.check_vocabulary(self.backend.n_vocab)
        except (TypeError, ValueError) as exc:
            raise RequestError(str(exc)) from None
        try:
            text = self.format.render(messages, offered or None, template=self.template, special=self.backend.special)
        except (formats.TemplateError, ValueError) as exc:  # ValueError: content the family cannot render
            raise RequestError(f"the chat template could not render these messages: {exc}", "messages") from None
        add_bos = self.backend.adds_bos and not (self.backend.special.bos and text.startswith(self.backend.special.bos))
        prompt = self.backend.tokenize(text, add_bos=add_bos)
        if len(prompt) >= self.backend.n_ctx:
            raise RequestError(f"the prompt has {len(prompt)} tokens; the context of {self.name} holds "
                               f"{self.backend.n_ctx}", "messages")
        grammar = None
        if constrained:
            for tool in offered:  # compiled alone first, so an error names the tool
                self._check_tool(tool)
            try:
                if offered:
                    grammar = build_tool_grammar(syntax, offered, choice,
                                                 parallel=parallel_tool_calls, special=self.backend.special,
                                                 control_ids=self.backend.special.control_ids)
                else:
                    grammar = build_response_format_grammar(response_format)
                if grammar is not None:
                    self.engine.compile(grammar)
            except ValueError as exc:  # SchemaError included: it names the tool and field
                raise RequestError(str(exc), "tools" if offered else "response_format") from None
        return PreparedRequest(prompt=prompt, tools=offered, params=params, grammar=grammar, parse_tools=bool(offered))

    def _check_tool(self, tool: ToolSpec) -> None:
        where = f"tool {tool.name!r} parameters"
        try:
            check_schema(tool.parameters, where=where)
            try:
                self.engine.compile(json_node(tool.parameters))
            except SchemaError as exc:
                raise SchemaError(exc.reason, where=where, path=exc.path) from None
        except SchemaError as exc:
            raise RequestError(str(exc), "tools") from None

    def stream(self, messages: list[Message], *, cancel: threading.Event | None = None, **request) -> Iterator[ChatEvent]:
        """Events as they are generated, ending with Finished(result)."""
        yield from self.stream_prepared(self.prepare(messages, **request), cancel)

    def stream_prepared(self, prepared: PreparedRequest, cancel: threading.Event | None = None) -> Iterator[ChatEvent]:
        """Generation for a request prepared by `prepare`, or elsewhere (the server's raw completions)."""
        with self._locked():
            yield from self._run(prepared, cancel)

    def chat(self, messages: list[Message], **request) -> ChatResult:
        for event in self.stream(messages, **request):
            if isinstance(event, Finished):
                return event.result
        raise AssertionError("stream ended without Finished")

    @contextmanager
    def _locked(self):
        with self.lock:
            yield

    def _run(self, req: PreparedRequest, cancel: threading.Event | None) -> Iterator[ChatEvent]:
        hook = self.engine.constraint(req.grammar) if req.grammar is not None else None
        parser = self.format.parser(req.tools) if req.parse_tools else None
        gen = Generation(self.backend, req.prompt, req.params, hook=hook, cancel=cancel)
        assembler = ResultAssembler(req.tools, self.format.call_id_style)
        for token in gen:
            if token.logprob is not None:  # before the token's text events: the server attaches it to them
                yield token.logprob
            if not token.text:
                continue
            events = parser.feed(token.text) if parser else [ContentDelta(token.text)]
            yield from assembler.take(events)
        if parser:
            yield from assembler.take(parser.finish())
        stats = self.backend.stats
        usage = Usage(prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                      cached_tokens=stats.reused_tokens, forced_tokens=gen.forced_tokens)
        yield Finished(assembler.result(gen.finish_reason or "stop", usage))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "backend": self.backend.name, "format": self.format_name,
                "engine": self.engine_name, **self.backend.metadata()}


class ResultAssembler:
    """Passes events through while building the final ChatResult; checks every finished call
    against its tool's schema (defence in depth: the grammar already guarantees it)."""

    def __init__(self, tools: list[ToolSpec], id_style: str):
        self.tools = {t.name: t for t in tools}
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, ToolCall] = {}
        self.args: dict[int, list[str]] = {}
        self.errors: list[MalformedToolCall] = []

    def take(self, events) -> Iterator[ChatEvent]:
        for event in events:
            if isinstance(event, ContentDelta):
                self.content.append(event.text)
            elif isinstance(event, ReasoningDelta):
                self.reasoning.append(event.text)
            elif isinstance(event, ToolCallStart):
                self.calls[event.index] = ToolCall(event.id, event.name, "")
                self.args[event.index] = []
            elif isinstance(event, ToolCallDelta):
                self.args[event.index].append(event.arguments)
            elif isinstance(event, ToolCallEnd):
                call = self.calls[event.index]
                call.arguments = "".join(self.args[event.index])
                problem = self._check(call)
                if problem:
                    log.error("tool call failed its check after constrained generation: %s", problem)
                    self.errors.append(MalformedToolCall(call.arguments, problem))
                    del self.calls[event.index]
            elif isinstance(event, MalformedToolCall):
                self.errors.append(event)
            yield event

    def _check(self, call: ToolCall) -> str | None:
        import json

        tool = self.tools.get(call.name)
        if tool is None:
            return f"the model called {call.name!r}, which is not among the tools"
        try:
            args = json.loads(call.arguments)
        except json.JSONDecodeError as exc:
            return f"arguments of {call.name!r} are not JSON: {exc}"
        problem = validate_instance(args, tool.parameters)
        return f"arguments of {call.name!r} do not match its schema: {problem}" if problem else None

    def result(self, finish_reason: str, usage: Usage) -> ChatResult:
        calls = [self.calls[i] for i in sorted(self.calls) if self.calls[i].arguments]
        if calls and finish_reason == "stop":
            finish_reason = "tool_calls"
        content = "".join(self.content)
        return ChatResult(content=content or (None if calls else ""), reasoning="".join(self.reasoning) or None,
                          tool_calls=calls, finish_reason=finish_reason, usage=usage, errors=self.errors)


def _template_for(spec: ModelSpec, backend: Backend) -> str | None:
    if spec.chat_template is None:
        return backend.chat_template
    if spec.chat_template.startswith("builtin:"):
        return formats.load_builtin_template(spec.chat_template.removeprefix("builtin:"))
    path = Path(spec.chat_template).expanduser()
    if not path.is_absolute():
        path = Path(spec.registry_file).parent / path
    return path.read_text(encoding="utf-8")
