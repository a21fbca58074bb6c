"""Grounded calls: in tool_choice="auto", a call that takes nothing from the conversation is not made.

A small model offered tools calls one on nearly any question, and where no tool fits it invents
every argument: asked who won a match, it calls add_product_to_cart(product_id=123,
quantity=10). A call that fits the request takes its values from it ("the weather in Paris" →
city="Paris"). So when a turn's first call has values and none of them occurs in the
conversation, the runtime takes it as the sign that no tool fits: the call is dropped and the
turn answers instead: ChatModel._run goes on with the request's tool_choice="none" form (the
generic family: the same prompt, the answer form only; a native family: the prompt without
tools). A turn that wrote text before that call keeps its text as the answer.

What counts (`is_grounded`):
- the argument values that are strings or numbers (booleans and null say nothing);
- a string occurs when it is in the conversation's text, case and runs of whitespace aside;
  a number when it occurs there as a number ("12" for 12 and 12.0, "0.5" for 0.5; not 5 in
  "15"), or as a word up to twelve ("six");
- a call is grounded when one of its values occurs in the conversation, or when every value
  is one the tool itself offers (in its schema or description: an enum member, a default,
  an example), which is chosen rather than invented; a call with no values invents nothing.
The conversation's text is every message's text and the arguments of earlier calls (an agent
takes values from tool results and earlier steps as well as from the user).

Only the first call of a message is judged: once a turn has made a grounded call, later calls
(parallel ones) are the model's to make. Off by default; SamplingParams.grounded_calls (a
model's default in its registry entry, or a ChatModel.chat keyword) turns it on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..messages import ChatEvent, ContentDelta, Message, ToolCallDelta, ToolCallEnd, ToolCallStart, ToolSpec

_SPACE = re.compile(r"\s+")
NUMBER_WORDS = dict(enumerate("zero one two three four five six seven eight nine ten eleven twelve".split()))
_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}\b)")  # 10,000 → 10000


def normalize(text: str) -> str:
    return _SPACE.sub(" ", _DIGIT_GROUPS.sub("", text.lower())).strip()


def conversation_text(messages: list[Message]) -> str:
    """The text values may be taken from: every message's text and earlier calls' arguments."""
    parts: list[str] = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):  # content parts: only text parts carry words
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
        for call in msg.get("tool_calls") or ():
            parts.append(str(call.get("function", {}).get("arguments", "")))
    return normalize("\n".join(parts))


def leaf_values(value) -> Iterator[str | int | float]:
    """The strings and numbers inside a JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaf_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaf_values(item)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield value


def occurs(value: str | int | float, text: str) -> bool:
    """Whether `value` occurs in normalized `text` (a number as a number, not inside another)."""
    if isinstance(value, str):
        wanted = normalize(value)
        return bool(wanted) and wanted in text
    spellings = {repr(value), str(int(value))} if float(value).is_integer() else {repr(value)}
    if any(re.search(rf"(?<![\d.]){re.escape(s)}(?![\d]|\.\d)", text) for s in spellings):
        return True
    word = NUMBER_WORDS.get(value) if float(value).is_integer() else None
    return word is not None and re.search(rf"\b{word}\b", text) is not None


def is_grounded(arguments: dict, tool: ToolSpec, text: str) -> bool:
    """Whether a call takes something from the conversation, or invents nothing (see above)."""
    values = list(leaf_values(arguments))
    if any(occurs(v, text) for v in values):
        return True
    offered = normalize(tool.description + " " + json.dumps(tool.parameters, ensure_ascii=False))
    return all(occurs(v, offered) for v in values)


@dataclass(frozen=True)
class Grounding:
    """What a request's first call is judged against: the conversation's text and the tools."""

    text: str
    tools: dict[str, ToolSpec]

    @classmethod
    def of(cls, messages: list[Message], tools: Iterable[ToolSpec]) -> "Grounding":
        return cls(conversation_text(messages), {t.name: t for t in tools})

    def grounded(self, name: str, arguments: str) -> bool:
        tool = self.tools.get(name)
        try:
            args = json.loads(arguments)
        except json.JSONDecodeError:
            return True  # not a finished call: the result's checks report it
        return tool is None or not isinstance(args, dict) or is_grounded(args, tool, self.text)


class UngroundedCallFilter:
    """Holds the events of a message's first call until it ends, then releases them if the call
    is grounded; if not, drops them and sets `dropped`: the caller stops generating there.
    `said` tells whether text came before the call (then that text is the turn's answer)."""

    def __init__(self, grounding: Grounding):
        self.grounding = grounding
        self.held: list[ChatEvent] | None = None
        self.judged = False
        self.dropped = False
        self.said = False
        self._name, self._args = "", []

    def take(self, events) -> list[ChatEvent]:
        out: list[ChatEvent] = []
        for event in events:
            if self.dropped:
                continue
            if self.judged:
                out.append(event)
            elif isinstance(event, ToolCallStart):
                self.held, self._name = [event], event.name
            elif self.held is None:
                self.said = self.said or (isinstance(event, ContentDelta) and bool(event.text.strip()))
                out.append(event)
            else:
                self.held.append(event)
                if isinstance(event, ToolCallDelta):
                    self._args.append(event.arguments)
                elif isinstance(event, ToolCallEnd):
                    self.judged = True
                    if self.grounding.grounded(self._name, "".join(self._args)):
                        out += self.held
                    else:
                        self.dropped = True
                    self.held = None
        return out

    def flush(self) -> list[ChatEvent]:
        """The events still held when generation ended inside the first call (unjudged)."""
        held, self.held = self.held or [], None
        return held
