"""The Chat Completions wire format, as pydantic models: requests in, responses and chunks out.

Requests mirror OpenAI's: unknown fields are ignored (clients send new ones all the time),
and what localcall cannot honour (audio, other modalities, the legacy `functions`...) is
refused with a 400 that names the field rather than silently ignored. Validation here covers shape and
range; whether the model can serve the request (the prompt fits, the schema can be
enforced, the named tool exists) is the runtime's RequestError, raised by `prepare`.

Responses serialize exactly as OpenAI sends them: optional fields that are absent are left
out (a delta carries only what changed), required ones stay even when null (`content`).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator, model_serializer,
                      model_validator)

from ..messages import ChatResult, Message, ToolCall, Usage
from ..runtime.sampling import TokenLogprob
from .strict import strict_problem

# OpenAI allows [a-zA-Z0-9_-]; dots are let through too because benchmark suites (BFCL) name
# functions "math.factorial" and the grammar and templates handle them.
TOOL_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"
INT64 = 2 ** 63


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def _by(key: str, tags: dict[str, str], what: str) -> Discriminator:
    """A discriminator on `key` whose tags are class names, so error locations show fields only
    (errors.py leaves capitalised segments out of `param`)."""

    def tag(value: Any) -> str | None:
        raw = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        return tags.get(raw) if isinstance(raw, str) else None

    return Discriminator(tag, custom_error_type="invalid_" + key,
                         custom_error_message=f"{key} must be one of {', '.join(map(repr, tags))} for {what}")


# --- messages ------------------------------------------------------------------------------

class TextPart(_Request):
    type: Literal["text"]
    text: str


class RefusalPart(_Request):
    type: Literal["refusal"]
    refusal: str


class _TextParts(_Request):
    @field_validator("content", mode="before", check_fields=False)
    @classmethod
    def _only_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            for part in value:
                kind = part.get("type") if isinstance(part, dict) else None
                if isinstance(kind, str) and kind not in ("text", "refusal"):
                    raise ValueError(f"content parts of type {kind!r} are not supported: localcall serves "
                                     f"text models; send text parts")
        return value


AssistantPart = Annotated[Union[Annotated[TextPart, Tag("TextPart")], Annotated[RefusalPart, Tag("RefusalPart")]],
                          _by("type", {"text": "TextPart", "refusal": "RefusalPart"}, "an assistant content part")]


class SystemMessage(_TextParts):
    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_TextParts):
    role: Literal["user"]
    content: str | list[TextPart]
    name: str | None = None


class FunctionCall(_Request):
    name: str = Field(pattern=TOOL_NAME)
    arguments: str


class ToolCallParam(_Request):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(_TextParts):
    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    tool_calls: list[ToolCallParam] | None = None
    name: str | None = None


class ToolMessage(_TextParts):
    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


ChatMessage = Annotated[
    Union[Annotated[SystemMessage, Tag("SystemMessage")], Annotated[UserMessage, Tag("UserMessage")],
          Annotated[AssistantMessage, Tag("AssistantMessage")], Annotated[ToolMessage, Tag("ToolMessage")]],
    _by("role", {"system": "SystemMessage", "developer": "SystemMessage", "user": "UserMessage",
                 "assistant": "AssistantMessage", "tool": "ToolMessage"}, "a message"),
]


def _text(content: str | list | None) -> str | None:
    """Text parts joined with newlines, as other OpenAI-compatible servers do."""
    if content is None or isinstance(content, str):
        return content
    return "\n".join(p.text if isinstance(p, TextPart) else p.refusal for p in content)


def runtime_message(msg: SystemMessage | UserMessage | AssistantMessage | ToolMessage) -> Message:
    """The plain dict the chat formats render."""
    if isinstance(msg, SystemMessage):
        return {"role": "system", "content": _text(msg.content)}
    if isinstance(msg, ToolMessage):
        return {"role": "tool", "tool_call_id": msg.tool_call_id, "content": _text(msg.content)}
    if isinstance(msg, AssistantMessage):
        out: Message = {"role": "assistant", "content": _text(msg.content)}
        if msg.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.function.name, "arguments": c.function.arguments}}
                                 for c in msg.tool_calls]
        return out
    return {"role": "user", "content": _text(msg.content)}


# --- tools, tool_choice, response_format ---------------------------------------------------

class FunctionDefinition(_Request):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None  # calls are constrained by their schema whatever it says; see strict.py

    @model_validator(mode="after")
    def _strict_rules(self) -> "FunctionDefinition":
        if self.strict:
            problem = strict_problem(self.parameters or {"type": "object", "properties": {},
                                                         "additionalProperties": False})
            if problem:
                raise ValueError(f"tool {self.name!r} is strict, but its parameters break the strict rules "
                                 f"{problem}")
        return self


class ToolDefinition(_Request):
    type: Literal["function"]
    function: FunctionDefinition

    def to_openai(self) -> dict:
        fn = {"name": self.function.name, "description": self.function.description or ""}
        if self.function.parameters is not None:
            fn["parameters"] = self.function.parameters
        return {"type": "function", "function": fn}


class NamedFunction(_Request):
    name: str


class NamedToolChoice(_Request):
    type: Literal["function"]
    function: NamedFunction


class AllowedTools(_Request):
    mode: Literal["auto", "required"]
    tools: list[NamedToolChoice] = Field(min_length=1)


class AllowedToolsChoice(_Request):
    """Only these of the tools may be called (the rest stay out of the prompt and the grammar)."""

    type: Literal["allowed_tools"]
    allowed_tools: AllowedTools


class JsonSchemaFormat(_Request):
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None

    @model_validator(mode="after")
    def _strict_rules(self) -> "JsonSchemaFormat":
        problem = strict_problem(self.schema_) if self.strict else None
        if problem:
            raise ValueError(f"the schema {self.name or ''!r} is strict, but breaks the strict rules {problem}")
        return self


class TextFormat(_Request):
    type: Literal["text"]


class JsonObjectFormat(_Request):
    type: Literal["json_object"]


class JsonSchemaResponseFormat(_Request):
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[
    Union[Annotated[TextFormat, Tag("TextFormat")], Annotated[JsonObjectFormat, Tag("JsonObjectFormat")],
          Annotated[JsonSchemaResponseFormat, Tag("JsonSchemaResponseFormat")]],
    _by("type", {"text": "TextFormat", "json_object": "JsonObjectFormat", "json_schema": "JsonSchemaResponseFormat"},
        "response_format"),
]


class StreamOptions(_Request):
    include_usage: bool = False


# --- the request ---------------------------------------------------------------------------

# Fields accepted at their neutral value only: anything else asks for results we cannot produce.
_NEUTRAL = {
    "modalities": (lambda v: all(m == "text" for m in v or ()), "only text output"),
    "audio": (lambda v: v is None, "only text output"),
    "functions": (lambda v: v is None, "use tools"),
    "function_call": (lambda v: v is None, "use tool_choice"),
}


MAX_CHOICES = 16  # n: choices are generated one after the other, so each costs a whole generation


class SamplingFields(_Request):
    """The sampling fields chat completions and completions share."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)  # an extension, as llama.cpp's and vLLM's servers accept
    # An extension: keep a tool call that repeats an earlier one of the same message.
    allow_repeated_tool_calls: bool | None = None
    # An extension: added to the answer's side where a turn chooses between calling and
    # answering (grammars/decision.py); the model's own default when absent.
    answer_bias: float | None = Field(None, ge=-100, le=100)
    seed: int | None = Field(None, ge=-INT64, lt=INT64)
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    n: int | None = Field(None, ge=1, le=MAX_CHOICES)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 16:
            raise ValueError("at most 16 stop sequences")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _token_biases(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for token, bias in (value or {}).items():
            if not token.isdigit():
                raise ValueError(f"logit_bias keys are token ids, not {token!r}")
            if not -100 <= bias <= 100:
                raise ValueError(f"the bias of token {token} must be in [-100, 100], not {bias}")
        return value

    def sampling(self, max_tokens: int | None, top_logprobs: int | None) -> dict[str, Any]:
        """SamplingParams overrides (runtime/sampling.py) for choice 0; see `for_choice`."""
        # numpy's generator takes unsigned seeds; OpenAI's are int64.
        seed = self.seed % 2 ** 64 if self.seed is not None else None
        return {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k, "seed": seed,
                "stop": self.stop, "max_tokens": max_tokens, "frequency_penalty": self.frequency_penalty,
                "presence_penalty": self.presence_penalty, "logprobs": top_logprobs,
                "logit_bias": {int(t): b for t, b in self.logit_bias.items()} if self.logit_bias else None}

    @property
    def choices(self) -> int:
        return self.n or 1

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def for_choice(options: dict[str, Any], index: int) -> dict[str, Any]:
    """The options of choice `index` of n: a seeded request gives each choice its own seed
    (seed + index), so that n seeded choices differ and each is reproducible."""
    if index == 0 or options.get("seed") is None:
        return options
    return {**options, "seed": (options["seed"] + index) % 2 ** 64}


class ChatRequest(SamplingFields):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | AllowedToolsChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # _NEUTRAL:
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    functions: list[Any] | None = None
    function_call: Any = None

    @field_validator("tool_choice")
    @classmethod
    def _allowed_among_tools(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, AllowedToolsChoice):
            offered = {t.function.name for t in info.data.get("tools") or ()}
            for i, tool in enumerate(value.allowed_tools.tools):
                if tool.function.name not in offered:
                    raise ValueError(f"allowed_tools.tools[{i}] names {tool.function.name!r}, which is not "
                                     f"among the tools")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _with_logprobs(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and not info.data.get("logprobs"):
            raise ValueError("top_logprobs needs logprobs=true")
        return value

    @field_validator("messages")
    @classmethod
    def _answered_calls(cls, messages: list) -> list:
        """A tool message must answer a call an earlier assistant message made."""
        made: set[str] = set()
        for i, msg in enumerate(messages):
            if isinstance(msg, AssistantMessage):
                made.update(c.id for c in msg.tool_calls or ())
            elif isinstance(msg, ToolMessage) and msg.tool_call_id not in made:
                raise ValueError(f"messages[{i}] is a tool message for tool_call_id {msg.tool_call_id!r}, which "
                                 f"answers no tool call of an earlier assistant message")
        return messages

    @field_validator(*_NEUTRAL)
    @classmethod
    def _neutral(cls, value: Any, info: ValidationInfo) -> Any:
        neutral, hint = _NEUTRAL[info.field_name]
        if not neutral(value):
            raise ValueError(f"{info.field_name!r} is not supported by localcall ({hint})")
        return value

    # --- what the runtime is given ---

    def runtime_messages(self) -> list[Message]:
        return [runtime_message(m) for m in self.messages]

    def client_tools(self) -> list[dict]:
        """The tools offered to the model: with allowed_tools, only those it names."""
        tools = self.tools or ()
        if isinstance(self.tool_choice, AllowedToolsChoice):
            allowed = {t.function.name for t in self.tool_choice.allowed_tools.tools}
            tools = [t for t in tools if t.function.name in allowed]
        return [t.to_openai() for t in tools]

    def tool_choice_value(self) -> str | dict | None:
        if isinstance(self.tool_choice, NamedToolChoice):
            return {"type": "function", "function": {"name": self.tool_choice.function.name}}
        if isinstance(self.tool_choice, AllowedToolsChoice):
            return self.tool_choice.allowed_tools.mode
        return self.tool_choice

    def options(self, default_max_tokens: int | None) -> dict[str, Any]:
        """Generation options for ChatModel.stream / chat (tools and tool_choice apart)."""
        fmt = self.response_format
        if isinstance(fmt, JsonSchemaResponseFormat):
            response_format = {"type": "json_schema", "json_schema": {"schema": fmt.json_schema.schema_}}
        else:
            response_format = {"type": fmt.type} if fmt is not None else None
        top_logprobs = (self.top_logprobs or 0) if self.logprobs else None
        max_tokens = self.max_completion_tokens or self.max_tokens or default_max_tokens
        return {"parallel_tool_calls": self.parallel_tool_calls is not False, "response_format": response_format,
                **self.sampling(max_tokens, top_logprobs),
                "allow_repeated_calls": bool(self.allow_repeated_tool_calls), "answer_bias": self.answer_bias}


# --- responses -----------------------------------------------------------------------------

class WireModel(BaseModel):
    # Fields OpenAI leaves out when they have no value; every other field is sent even if null.
    _sparse: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if not (v is None and k in self._sparse)}


class ResponseFunction(WireModel):
    name: str
    arguments: str


class ResponseToolCall(WireModel):
    id: str
    type: Literal["function"] = "function"
    function: ResponseFunction

    @classmethod
    def of(cls, call: ToolCall) -> "ResponseToolCall":
        return cls(id=call.id, function=ResponseFunction(name=call.name, arguments=call.arguments))


class ResponseMessage(WireModel):
    _sparse = frozenset({"tool_calls", "reasoning_content"})
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[ResponseToolCall] | None = None
    reasoning_content: str | None = None  # the model's thinking, as vLLM and DeepSeek name it


class TopLogprob(WireModel):
    token: str
    logprob: float
    bytes: list[int]


class LogprobEntry(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(WireModel):
    content: list[LogprobEntry] | None
    refusal: list[LogprobEntry] | None = None


def logprob_entries(items: list[TokenLogprob], token_bytes) -> list[LogprobEntry]:
    """The wire form of the runtime's logprobs; `token_bytes(id)` is the backend's."""

    def top(token: int, logprob: float) -> TopLogprob:
        raw = token_bytes(token)
        return TopLogprob(token=raw.decode("utf-8", errors="replace"), logprob=logprob, bytes=list(raw))

    return [LogprobEntry(**top(i.token, i.logprob).model_dump(), top_logprobs=[top(t, lp) for t, lp in i.top])
            for i in items]


class Choice(WireModel):
    index: int = 0
    message: ResponseMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length", "tool_calls"]


class PromptTokensDetails(WireModel):
    cached_tokens: int


class ResponseUsage(WireModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails

    @classmethod
    def of(cls, usage: Usage) -> "ResponseUsage":
        return cls(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                   total_tokens=usage.total_tokens,
                   prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens))


class ExecutedToolCall(WireModel):
    """A call the server ran itself (`--tools`): what was called and what the model was told."""

    _sparse = frozenset({"error"})
    id: str
    name: str
    arguments: str
    status: str  # ok, or the pipeline layer that stopped it: refused, denied, invalid_arguments, timeout...
    content: str  # the tool message the model read
    error: str | None = None


class LocalcallExtension(WireModel):
    """The `localcall` field on responses and final chunks: what OpenAI's format has no place for."""

    _sparse = frozenset({"executed_tool_calls", "incomplete_tool_calls", "repeated_tool_calls_dropped"})
    executed_tool_calls: list[ExecutedToolCall] | None = None
    # Ids of the calls in message.tool_calls that generation stopped inside (finish_reason
    # "length"): their arguments are cut short and are not valid JSON.
    incomplete_tool_calls: list[str] | None = None
    # Calls left out because they repeated an earlier call of the message (see the README).
    repeated_tool_calls_dropped: int | None = None

    @classmethod
    def of(cls, results: list[ChatResult], executed: list) -> "LocalcallExtension | None":
        """For the results of one response and the server's ToolExecuted events (server/tools.py);
        None when there is nothing to say."""
        incomplete = [c.id for r in results for c in r.incomplete_calls]
        repeated = sum(r.repeated_calls_dropped for r in results)
        if not (executed or incomplete or repeated):
            return None
        ran = [ExecutedToolCall(id=e.call.id, name=e.call.name, arguments=e.call.arguments, status=e.outcome.status,
                                content=e.outcome.content, error=e.outcome.error) for e in executed]
        return cls(executed_tool_calls=ran or None, incomplete_tool_calls=incomplete or None,
                   repeated_tool_calls_dropped=repeated or None)


class ChatCompletion(WireModel):
    _sparse = frozenset({"localcall"})
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[Choice]
    usage: ResponseUsage
    localcall: LocalcallExtension | None = None


class FunctionDelta(WireModel):
    _sparse = frozenset({"name", "arguments"})
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(WireModel):
    _sparse = frozenset({"id", "type"})
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionDelta


class Delta(WireModel):
    _sparse = frozenset({"role", "content", "reasoning_content", "tool_calls"})
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(WireModel):
    index: int = 0
    delta: Delta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length", "tool_calls"] | None = None


class ChatCompletionChunk(WireModel):
    _sparse = frozenset({"usage", "localcall"})
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str | None = None
    choices: list[ChunkChoice]
    usage: ResponseUsage | None = None
    localcall: LocalcallExtension | None = None


class ModelCard(WireModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "localcall"


class ModelList(WireModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


def client_finish_reason(reason: str) -> str:
    """A generation cut short (request timeout, the step budget of server tools) ended for lack
    of budget, which OpenAI's vocabulary calls "length"."""
    return reason if reason in ("stop", "length", "tool_calls") else "length"


def total_usage(results: list[ChatResult]) -> Usage:
    """n choices of one prompt: the prompt counted once, the completions added up."""
    first = results[0].usage
    return Usage(prompt_tokens=first.prompt_tokens, cached_tokens=first.cached_tokens,
                 completion_tokens=sum(r.usage.completion_tokens for r in results),
                 forced_tokens=sum(r.usage.forced_tokens for r in results))


def completion(cid: str, model: str, created: int, results: list[ChatResult],
               extension: LocalcallExtension | None, *, fingerprint: str | None = None,
               logprobs: list[ChoiceLogprobs | None] | None = None) -> ChatCompletion:
    choices = []
    for index, result in enumerate(results):
        # As OpenAI does, a call cut short by max_tokens is returned as far as it was generated, after
        # the finished ones, with finish_reason "length"; the extension names it.
        calls = [ResponseToolCall.of(c) for c in [*result.tool_calls, *result.incomplete_calls]] or None
        message = ResponseMessage(content=result.content, tool_calls=calls, reasoning_content=result.reasoning)
        choices.append(Choice(index=index, message=message, logprobs=logprobs[index] if logprobs else None,
                              finish_reason=client_finish_reason(result.finish_reason)))
    return ChatCompletion(id=cid, created=created, model=model, system_fingerprint=fingerprint, choices=choices,
                          usage=ResponseUsage.of(total_usage(results)), localcall=extension)
