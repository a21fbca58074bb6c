"""What a model family is: how it is told about tools, how it writes a call, how to read one.

A family module defines one ChatFormat subclass and registers it in FORMATS. The grammar
layer never looks at family names: it compiles the family's CallSyntax.
"""

from __future__ import annotations

import hashlib
import json
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
    string_quote, other values as in JSON), or NAME + args_marker + key=VALUE joined by ", "
    with Python literal values ("pythonic": [get_weather(city="Paris")] with args_marker "("
    and call_end ")").

    trigger: in tool_choice="auto" the model writes free text until this text appears; from
    there the section is constrained. It is a prefix of section_start + call_start. An empty
    trigger means the family is constrained from the first token (the generic family).
    id_key: "json" body: when set, each object first holds the call's number in the turn as a
    string under this key (Command's "tool_call_id": "0").
    call_number: "name_args" body: when set, the name is followed by this text and the call's
    number in the turn (Kimi's functions.NAME:0).
    call_id_end: "name_args" body: when set, the body opens with an id the model makes up (1 to
    40 characters), ended by this text, before the name (Solar's <|tool_call:name|>).
    leading: the section has no marker of its own (a bare pythonic list): it is a call only
    where the answer starts, so free text may not start with the trigger.
    answer_schema: for families with an empty trigger, the JSON schema a non-call answer
    must match (generic: {"response": "..."}). Such a section is one key of the answer object:
    section_start is '{"KEY": ' + the list's opening, section_end the list's closing + "}".

    What the parser also reads (formats/described.py), beyond what the grammar writes:
    reasoning: (open, close) markers of reasoning blocks (<think>...</think>): their text is
    reasoning, and no trigger inside them opens a call.
    section_prefixes: text the model may write right before a section (Llama's <|python_tag|>).
    args_aliases: other keys the arguments of a "json" body may come under.
    call_id_marker: "name_args": a marker after NAME that the model may follow with a call id
    of its own before args_marker (Mistral's [CALL_ID]); calls always get fresh ids.
    call_id_length: with call_id_marker, the grammar (and write()) put the marker and an id of
    this many letters and digits after NAME, as templates that write past calls so do (0: the
    grammar leaves them out).
    """

    trigger: str
    section_start: str = ""
    call_start: str = ""
    call_end: str = ""
    separator: str = ""
    section_end: str = ""
    body: Literal["json", "name_args", "xml_params", "gemma", "pythonic"] = "json"
    name_key: str = "name"
    args_key: str = "arguments"
    id_key: str = ""
    leading: bool = False
    call_number: str = ""
    call_id_end: str = ""
    args_marker: str = ""
    param_start: str = ""
    param_name_end: str = ""
    param_end: str = ""
    param_json_name_end: str = ""  # xml_params: ends the key of a value written as JSON, if not param_name_end
    optional_newlines: bool = False  # xml_params: each newline of the markers may be left out
    string_quote: str = ""  # gemma: what opens and closes a string
    answer_schema: dict | None = None
    reasoning: tuple[tuple[str, str], ...] = ()
    section_prefixes: tuple[str, ...] = ()
    args_aliases: tuple[str, ...] = ()
    call_id_marker: str = ""
    call_id_length: int = 0

    def write(self, calls: list[tuple[str, dict]]) -> str:
        """The text of these calls in this syntax: what the grammar admits (in its canonical
        layout) and the family's parser reads back."""
        return self.section_start + self.separator.join(
            self.call_start + self._body(name, arguments, index) + self.call_end
            for index, (name, arguments) in enumerate(calls)
        ) + self.section_end

    def _body(self, name: str, arguments: dict, index: int) -> str:
        if self.body == "json":
            numbered = {self.id_key: str(index)} if self.id_key else {}
            return json.dumps({**numbered, self.name_key: name, self.args_key: arguments}, ensure_ascii=False)
        head = name + (self.call_number + str(index) if self.call_number else "") + self.args_marker
        if self.body == "name_args":
            if self.call_id_length:  # any id the grammar admits: one made from the call
                head = name + self.call_id_marker + _made_up_id(name, arguments, self.call_id_length) + self.args_marker
            id_first = f"call_{index}" + self.call_id_end if self.call_id_end else ""  # Solar's, before the name
            return id_first + head + json.dumps(arguments, ensure_ascii=False)
        if self.body == "gemma":
            return head + gemma_text(arguments, self.string_quote)
        if self.body == "pythonic":
            return head + ", ".join(f"{key}={python_literal(value)}" for key, value in arguments.items())
        return head + "".join(self.param_start + key + self.param_key_end(isinstance(value, str))
                              + (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                              + self.param_end for key, value in arguments.items())

    def param_key_end(self, raw: bool) -> str:
        """What ends an "xml_params" key: DeepSeek's DSML marks there whether the value is JSON."""
        return self.param_name_end if raw or not self.param_json_name_end else self.param_json_name_end


def _made_up_id(name: str, arguments: dict, length: int) -> str:
    digest = hashlib.sha256(json.dumps([name, arguments], sort_keys=True).encode()).hexdigest()
    return digest[:length]


def gemma_text(value, quote: str) -> str:
    """A JSON value in Gemma 4's syntax, as its template's format_argument writes it: strings
    between quote tokens, keys unquoted and sorted, the rest as in JSON."""
    if isinstance(value, str):
        return quote + value + quote
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{gemma_text(value[key], quote)}" for key in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(gemma_text(v, quote) for v in value) + "]"
    return json.dumps(value)


def python_literal(value) -> str:
    """A JSON value as a Python literal: strings as JSON strings (which Python reads the same),
    True / False / None, lists and dicts with ", " between items."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def is_raw_string(schema: dict) -> bool:
    """Whether an "xml_params" argument with this schema is written as raw text: strings are,
    as the templates write them; every other value is JSON."""
    if "const" in schema:
        return isinstance(schema["const"], str)
    if "enum" in schema:
        return bool(schema["enum"]) and all(isinstance(o, str) for o in schema["enum"])
    return schema.get("type") == "string"


def open_reasoning(prompt: str, blocks: tuple[tuple[str, str], ...]) -> str | None:
    """The closing marker of the reasoning block `prompt` ends inside of, if it does (Qwen 3.5's
    template opens <think> in the generation prompt itself): the output then starts inside it,
    for the parser (ToolCallParser.begin_in_reasoning) and the grammar (build_tool_grammar's
    inside_reasoning)."""
    opened = max(((prompt.rfind(start), end) for start, end in blocks), default=(-1, ""))
    at, end = opened
    return end if at >= 0 and end not in prompt[at:] else None


def value_json(raw: str, schema) -> str:
    """The JSON text of an argument written one by one ("xml_params"): a raw string where the
    schema says string, else the JSON it holds (the raw text as a string if it holds none,
    which the schema check after generation then reports)."""
    if isinstance(schema, dict) and is_raw_string(schema):
        return json.dumps(raw, ensure_ascii=False)
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except json.JSONDecodeError:
        return json.dumps(raw, ensure_ascii=False)


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

    def begin_in_reasoning(self, close: str) -> None:
        """Before the first feed: the output starts inside a reasoning block that `close` ends."""
        raise NotImplementedError(f"{type(self).__name__} cannot start inside a reasoning block")


class ChatFormat(ABC):
    name: ClassVar[str]
    call_id_style: ClassVar[str] = "openai"  # "mistral": 9 alphanumerics
    # The model's own template (formats.get_format sets it), for the families whose call shape
    # the template decides (Mistral's [CALL_ID]); None: none known.
    model_template: str | None = None

    @abstractmethod
    def render(self, messages: list[Message], tools: list[ToolSpec] | None, *, template: str | None,
               special: SpecialTokens, add_generation_prompt: bool = True) -> str:
        """The prompt text for these messages and tools (tools=None: no tools in the prompt)."""

    @abstractmethod
    def call_syntax(self, special: SpecialTokens) -> CallSyntax: ...

    @abstractmethod
    def parser(self, tools: list[ToolSpec]) -> ToolCallParser: ...

    def write(self, calls: list[tuple[str, dict]], special: SpecialTokens) -> str:
        """What the model writes for these calls (name, arguments): the same description as
        the grammar's, so that parse(write(calls)) == calls."""
        return self.call_syntax(special).write(calls)

    @classmethod
    @abstractmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        """How surely this template/vocabulary belongs to the family: 0 = not at all."""


FORMATS: dict[str, type[ChatFormat]] = {}


def register(cls: type[ChatFormat]) -> type[ChatFormat]:
    FORMATS[cls.name] = cls
    return cls
