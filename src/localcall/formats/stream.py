"""The machinery under every family's parser: a resumable reader over generated text.

A parser is straight-line code, a generator that reads the output the way a
recursive-descent parser would ("text until <tool_call>", "one JSON object", "expect
</tool_call>"): the one that described.py builds from a family's CallSyntax, or a family's
own. Whenever a read needs text that has not been generated yet, the generator
suspends; feed() resumes it with the next piece, finish() resumes it knowing nothing more
will come. So the same code gives the streamed events and the final message, and any split
of the output into pieces gives the same result.

Outcomes every family shares:
- Text outside calls is ContentDelta as soon as it cannot be the start of a marker; only a
  tail that could still become a marker is held back.
- A call is ToolCallStart (once its name is known: index, fresh id, name), ToolCallDelta
  (raw argument text as it is generated; the fragments join to the arguments JSON), then
  ToolCallEnd once the call is closed and its arguments parse as a JSON object.
- A call that cannot be read (the output stops inside it, the JSON breaks, a closing marker
  is wrong, the arguments are not an object) ends parsing: the call section's raw text and
  everything after it become one MalformedToolCall, emitted by finish(), with the reason. Its
  ToolCallStart may already have gone out; no ToolCallEnd follows, so the call is not
  complete. Nothing from a call section is ever content.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Callable, ClassVar, Generator

from ..messages import (ChatEvent, ContentDelta, MalformedToolCall, ReasoningDelta, ToolCallDelta, ToolCallEnd,
                        ToolCallStart, new_call_id)
from .base import ToolCallParser
from .json_scan import ValueEnd, decodable_prefix, decode_string_body

Read = Generator[None, None, object]  # a read: suspends (yields) until it has its text
Sink = Callable[[str], None]

ENDED = "the output ended inside a tool call"


class Malformed(Exception):
    """Raised inside a parse when the current call cannot be read."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StreamParser(ToolCallParser):
    id_style: ClassVar[str] = "openai"
    # Arguments may also come under these keys (Llama writes "parameters").
    args_keys: ClassVar[tuple[str, ...]] = ("arguments",)
    # ...and the name under these (Command writes "tool_name").
    name_keys: ClassVar[tuple[str, ...]] = ("name",)

    def __init__(self) -> None:
        self.buf = ""  # text received and not consumed yet
        self.final = False
        self.events: list[ChatEvent] = []
        self.section: str | None = None  # raw text of the call section being read
        self.failure: str | None = None
        self.calls = 0
        self.current: tuple[int, list[str]] | None = None  # the open call: index, argument fragments
        self.inside: str | None = None  # the closing marker of a reasoning block the output starts in
        self._reader: Generator | None = self._read()

    @abstractmethod
    def parse(self) -> Generator[None, None, None]:
        """The family's reader over the whole output."""

    def begin_in_reasoning(self, close: str) -> None:
        self.inside = close

    def _read(self) -> Generator[None, None, None]:
        if self.inside is not None:
            if not (yield from self.reasoning_block(self.inside)):
                return
            yield from self.skip_space()  # layout after the block, as after any reasoning block
        yield from self.parse()

    # --- driving ---------------------------------------------------------------------------

    def feed(self, text: str) -> list[ChatEvent]:
        if text:
            self.buf += text
            self._resume()
        return self._take_events()

    def finish(self) -> list[ChatEvent]:
        self.final = True
        self._resume()
        if self.failure is not None:
            self.events.append(MalformedToolCall((self.section or "") + self.buf, self.failure))
            self.buf = ""
        return self._take_events()

    def _resume(self) -> None:
        if self._reader is None:  # finished, or failed: the rest only joins the malformed text
            return
        try:
            next(self._reader)
        except StopIteration:
            self._reader = None
        except Malformed as exc:
            self._reader, self.failure = None, exc.reason

    def _take_events(self) -> list[ChatEvent]:
        events, self.events = self.events, []
        return events

    # --- reads: each is a generator; use them with `yield from` -------------------------------

    def more(self) -> Read:
        """Wait for the next piece; False once the output has ended."""
        if self.final:
            return False
        yield
        return True

    def take(self, n: int) -> str:
        text, self.buf = self.buf[:n], self.buf[n:]
        if self.section is not None:
            self.section += text
        return text

    def text_until(self, markers: tuple[str, ...], emit: Sink) -> Read:
        """Pass text to `emit` up to the first marker; return that marker (left unread), or None at the end."""
        while True:
            found = _first_marker(self.buf, markers)
            if found is not None:
                emit(self.take(found[0]))
                return found[1]
            emit(self.take(len(self.buf) - _held_back(self.buf, markers)))
            if not (yield from self.more()):
                emit(self.take(len(self.buf)))
                return None

    def skip_space(self) -> Read:
        """Drop whitespace; return the next character (left unread), or None at the end."""
        while True:
            self.take(len(self.buf) - len(self.buf.lstrip()))
            if self.buf:
                return self.buf[0]
            if not (yield from self.more()):
                return None

    def expect(self, literal: str) -> Read:
        while len(self.buf) < len(literal) and literal.startswith(self.buf):
            if not (yield from self.more()):
                raise Malformed(ENDED)
        if not self.buf.startswith(literal):
            raise Malformed(f"expected {literal!r}")
        self.take(len(literal))

    def expect_one(self, literals: tuple[str, ...]) -> Read:
        """Whichever of `literals` comes next (consumed); Malformed if none does."""
        while True:
            for literal in literals:
                if self.buf.startswith(literal):
                    self.take(len(literal))
                    return literal
            if not any(literal.startswith(self.buf) for literal in literals):
                raise Malformed(f"expected one of {', '.join(map(repr, literals))}")
            if not (yield from self.more()):
                raise Malformed(ENDED)

    def read_until(self, marker: str, limit: int) -> Read:
        """The text before `marker`, which must come within `limit` characters; both are consumed."""
        while True:
            at = self.buf.find(marker)
            if 0 <= at <= limit:
                text = self.take(at)
                self.take(len(marker))
                return text
            if at > limit or len(self.buf) >= limit + len(marker):
                raise Malformed(f"no {marker!r} within {limit} characters")
            if not (yield from self.more()):
                raise Malformed(ENDED)

    def reasoning_block(self, close: str) -> Read:
        """Reasoning up to `close` (consumed); False when the output ended inside it."""
        if (yield from self.text_until((close,), self.reasoning)) is None:
            return False
        yield from self.expect(close)
        return True

    def json_value(self, sink: Sink) -> Read:
        """Pass one JSON value's raw text to `sink` as it arrives (it starts at the next character)."""
        scan = ValueEnd()
        while True:
            end = scan.feed(self.buf)
            if end is not None:
                sink(self.take(end))
                return
            sink(self.take(len(self.buf)))
            if not (yield from self.more()):
                if scan.ends_at_end_of_input:
                    return
                raise Malformed(ENDED)

    def json_string(self) -> Read:
        """A whole JSON string after optional whitespace, decoded."""
        first = yield from self.skip_space()
        if first is None:
            raise Malformed(ENDED)
        if first != '"':
            raise Malformed("expected a JSON string")
        parts: list[str] = []
        yield from self.json_value(parts.append)
        return _decode("".join(parts)[1:-1])

    def json_string_text(self, emit: Sink) -> Read:
        """Emit a JSON string's decoded text as it arrives; return False if the output ended inside it."""
        yield from self.expect('"')
        scan, pending = ValueEnd(), ""
        scan.feed('"')  # already inside the string
        while True:
            end = scan.feed(self.buf)
            pending += self.take(len(self.buf) if end is None else end)
            if end is not None:
                emit(_decode(pending[:-1]))
                return True
            ready = decodable_prefix(pending)
            emit(_decode(pending[:ready]))
            pending = pending[ready:]
            if not (yield from self.more()):
                return False

    # --- calls -------------------------------------------------------------------------------

    def open_section(self) -> None:
        """From here on the text is a call section: never content, kept for MalformedToolCall."""
        self.section = ""

    def close_section(self) -> None:
        self.section = None

    def call_object(self) -> Read:
        """One {"name": NAME, "arguments": {...}} object: starts the call and streams its arguments.

        Keys may come in any order; arguments written before the name are held until the name
        is known. Other keys (Mistral's "id") are skipped. No arguments key means "{}".
        """
        yield from self.expect("{")
        name: str | None = None
        early: list[str] | None = None  # arguments seen before the name
        seen_arguments = False
        while (yield from self.skip_space()) != "}":
            key = yield from self.json_string()
            yield from self.skip_space()
            yield from self.expect(":")
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            if key in self.name_keys and name is None:
                name = yield from self.json_string()
                if early is not None:
                    self.start_call(name)
                    self.argument("".join(early))
            elif key in self.args_keys and not seen_arguments:
                seen_arguments = True
                if name is None:
                    early = []
                    yield from self.arguments(early.append)
                else:
                    self.start_call(name)
                    yield from self.arguments(self.argument)
            else:
                yield from self.json_value(lambda _: None)
            after = yield from self.skip_space()
            if after is None:
                raise Malformed(ENDED)
            if after == ",":
                self.take(1)
            elif after != "}":
                raise Malformed("expected ',' or '}' in the tool call object")
        self.take(1)
        if name is None:
            raise Malformed("the tool call has no name")
        if not seen_arguments:
            self.start_call(name)
            self.argument("{}")

    def arguments(self, sink: Sink) -> Read:
        """The arguments value: streamed raw, or decoded at once when written as a JSON string."""
        if self.buf[0] == '"':
            sink((yield from self.json_string()))
        else:
            yield from self.json_value(sink)

    def start_call(self, name: str) -> None:
        if not name:
            raise Malformed("the tool call has an empty name")
        self.current = (self.calls, [])
        self.events.append(ToolCallStart(self.calls, new_call_id(self.id_style), name))
        self.calls += 1

    def argument(self, text: str) -> None:
        if text:
            self.current[1].append(text)
            self.events.append(ToolCallDelta(self.current[0], text))

    def end_call(self) -> None:
        index, fragments = self.current
        try:
            arguments = json.loads("".join(fragments))
        except json.JSONDecodeError:
            raise Malformed("the arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            raise Malformed("the arguments are not a JSON object")
        self.events.append(ToolCallEnd(index))
        self.current = None

    # --- text outside calls --------------------------------------------------------------------

    def content(self, text: str) -> None:
        if text:
            self.events.append(ContentDelta(text))

    def reasoning(self, text: str) -> None:
        if text:
            self.events.append(ReasoningDelta(text))


def _decode(raw: str) -> str:
    try:
        return decode_string_body(raw)
    except json.JSONDecodeError:
        raise Malformed("invalid escape in a JSON string") from None


def _first_marker(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    hits = [(at, marker) for marker in markers if (at := text.find(marker)) >= 0]
    return min(hits) if hits else None


def _held_back(text: str, markers: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that a marker could start with."""
    longest = 0
    for marker in markers:
        for size in range(min(len(text), len(marker) - 1), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest
