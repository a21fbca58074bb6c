"""The chat vocabulary shared by formats, grammars, the runtime, tools and the server.

Messages stay OpenAI-shaped dicts ({"role", "content", "tool_calls", "tool_call_id"}): that is
what chat templates, the agent loop and clients all speak. What the runtime produces is typed:
ToolSpec for an offered tool, ToolChoice for the mode, ChatEvent for the stream, ChatResult
for the whole answer.
"""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass, field
from typing import Literal, Union

Message = dict  # an OpenAI chat message


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict  # a JSON Schema for the arguments object

    @classmethod
    def from_openai(cls, tool: dict) -> "ToolSpec":
        """From {"type": "function", "function": {"name", "description", "parameters"}}."""
        fn = tool["function"] if "function" in tool else tool
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        return cls(name=fn["name"], description=fn.get("description", ""), parameters=params)

    def to_openai(self) -> dict:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


@dataclass(frozen=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"] = "auto"
    name: str | None = None  # with mode "named"

    @classmethod
    def parse(cls, value) -> "ToolChoice":
        """From the OpenAI value: "auto" | "none" | "required" | {"type": "function", "function": {"name": X}}."""
        if value is None:
            return cls()
        if isinstance(value, ToolChoice):
            return value
        if isinstance(value, str):
            if value not in ("auto", "none", "required"):
                raise ValueError(f"tool_choice must be 'auto', 'none', 'required' or a named function, not {value!r}")
            return cls(mode=value)
        if isinstance(value, dict) and isinstance(value.get("function"), dict) and "name" in value["function"]:
            return cls(mode="named", name=value["function"]["name"])
        raise ValueError('tool_choice object must be {"type": "function", "function": {"name": "..."}}')


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON text, as OpenAI returns it

    def parsed_arguments(self) -> dict:
        return json.loads(self.arguments)

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def new_call_id(style: str = "openai") -> str:
    """A fresh tool-call id; Mistral's templates require exactly 9 alphanumerics."""
    alphabet = string.ascii_letters + string.digits
    if style == "mistral":
        return "".join(secrets.choice(alphabet) for _ in range(9))
    return "call_" + "".join(secrets.choice(alphabet) for _ in range(24))


# --- stream events -------------------------------------------------------------------------

@dataclass
class ContentDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str


@dataclass
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass
class ToolCallDelta:
    index: int
    arguments: str  # a fragment; the fragments of one call join to its arguments


@dataclass
class ToolCallEnd:
    index: int


@dataclass
class MalformedToolCall:
    """Generation ended inside a call (max_tokens, context full): the call is dropped, never
    turned into content. `text` is the raw unfinished call, for logs and benchmarks."""

    text: str
    reason: str


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens reused from the KV cache
    forced_tokens: int = 0  # completion tokens the grammar forced (evaluated in batches, not sampled)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatResult:
    content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"  # stop | tool_calls | length | cancelled
    usage: Usage = field(default_factory=Usage)
    errors: list[MalformedToolCall] = field(default_factory=list)
    # Calls that generation stopped inside (max_tokens, a full context, cancellation): their
    # arguments as far as generated, which are not valid JSON. Never in `tool_calls`, never
    # executed; the server shows them as OpenAI does (see server/schemas.completion).
    incomplete_calls: list[ToolCall] = field(default_factory=list)
    # Calls dropped because they repeated an earlier call of the same message (same name,
    # same arguments); generation stopped there. See model/repeats.py RepeatedCallFilter.
    repeated_calls_dropped: int = 0

    def message(self) -> Message:
        """The assistant message to append to the conversation."""
        msg: Message = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        return msg


@dataclass
class Finished:
    """The last event of a stream, carrying the assembled result."""

    result: ChatResult


ChatEvent = Union[ContentDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, ToolCallEnd,
                  MalformedToolCall, Finished]
