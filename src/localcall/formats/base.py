"""What a model family is: how it is told about tools, how it writes a call, how to read one.

A family module defines one ChatFormat subclass and registers it in FORMATS. The grammar
layer never looks at family names: it compiles the family's CallSyntax.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from ..messages import ChatEvent, Message, ToolSpec
from ..vocab import SpecialTokens


@dataclass(frozen=True)
class CallSyntax:
    """The shape of the tool-call section a family writes, for the grammar layer.

    The section is: section_start, then one or more calls joined by `separator`, then
    section_end; each call is call_start + body + call_end. The body is a JSON object
    {name_key: NAME, args_key: ARGS} ("json"), NAME + args_marker + ARGS ("name_args"), or
    NAME + args_marker + one block per argument ("xml_params"): param_start + KEY +
    param_name_end + VALUE + param_end, where a string VALUE is the raw text and any other
    value is JSON (Qwen3-Coder's <parameter=KEY>), or NAME + args_marker + the arguments in
    Gemma 4's value syntax ("gemma": {key:value,...}, keys sorted, strings between
    string_quote, other values as in JSON).

    trigger: in tool_choice="auto" the model writes free text until this text appears; from
    there the section is constrained. It is a prefix of section_start + call_start. An empty
    trigger means the family is constrained from the first token (the generic family).
    answer_schema: for families with an empty trigger, the JSON schema a non-call answer
    must match (generic: {"response": "..."}).
    """

    trigger: str
    section_start: str = ""
    call_start: str = ""
    call_end: str = ""
    separator: str = ""
    section_end: str = ""
    body: Literal["json", "name_args", "xml_params", "gemma"] = "json"
    name_key: str = "name"
    args_key: str = "arguments"
    args_marker: str = ""
    param_start: str = ""
    param_name_end: str = ""
    param_end: str = ""
    optional_newlines: bool = False  # xml_params: each newline of the markers may be left out
    string_quote: str = ""  # gemma: what opens and closes a string
    answer_schema: dict | None = None


def is_raw_string(schema: dict) -> bool:
    """Whether an "xml_params" argument with this schema is written as raw text: strings are,
    as the templates write them; every other value is JSON."""
    if "const" in schema:
        return isinstance(schema["const"], str)
    if "enum" in schema:
        return bool(schema["enum"]) and all(isinstance(o, str) for o in schema["enum"])
    return schema.get("type") == "string"


class ToolCallParser(ABC):
    """Incremental: fed the generated text in pieces, returns events as soon as they are sure.

    Never emits a call, or part of one, as ContentDelta; text before a call stays content.
    For any split of the same text into pieces, the events joined give the same result as
    feeding it whole.
    """

    @abstractmethod
    def feed(self, text: str) -> list[ChatEvent]: ...

    @abstractmethod
    def finish(self) -> list[ChatEvent]:
        """Generation ended: flush held-back text; an unfinished call becomes MalformedToolCall."""


class ChatFormat(ABC):
    name: ClassVar[str]
    call_id_style: ClassVar[str] = "openai"  # "mistral": 9 alphanumerics

    @abstractmethod
    def render(self, messages: list[Message], tools: list[ToolSpec] | None, *, template: str | None,
               special: SpecialTokens, add_generation_prompt: bool = True) -> str:
        """The prompt text for these messages and tools (tools=None: no tools in the prompt)."""

    @abstractmethod
    def call_syntax(self, special: SpecialTokens) -> CallSyntax: ...

    @abstractmethod
    def parser(self, tools: list[ToolSpec]) -> ToolCallParser: ...

    @classmethod
    @abstractmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        """How surely this template/vocabulary belongs to the family: 0 = not at all."""


FORMATS: dict[str, type[ChatFormat]] = {}


def register(cls: type[ChatFormat]) -> type[ChatFormat]:
    FORMATS[cls.name] = cls
    return cls
