"""Call syntaxes that write the calls as JSON objects between two markers (Apriel's
<tool_calls>[...]</tool_calls>, Nemotron Nano v2's <TOOLCALL>, Command's <|START_ACTION|>,
MiniMax M1's JSON lines, Apertus' {"NAME": ARGS} list), from one description each.

A family declares a JsonCalls: the section's markers and the separator between calls, laid
out as its template writes them, and the object's keys. From it come the grammar (its
CallSyntax: each object's name fixed to an offered tool, its arguments matching that tool's
schema), the parser and write(calls).

Parser outcomes (besides those of every parser, see stream.py):
- Text outside the section is content; the family's reasoning block, if it has one, is
  ReasoningDelta, and a section inside it is not a call.
- Whitespace between markers, brackets and objects is layout. Keys of an object other than
  the name and the arguments (an "id", Command's "tool_call_id") are skipped: ids are fresh.
- The section's last marker may be missing at the very end of the output (the model stopped
  where only it was left); anything else that breaks the section is malformed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import CallSyntax
from .sections import MarkedFormat, SectionParser, pieces
from .stream import ENDED, Malformed


@dataclass(frozen=True)
class JsonCalls:
    """section_start, the calls joined by separator, section_end. Each call is call_start and
    the object {id_key: "N", name_key: NAME, args_key: ARGS} (id_key only if set), or
    {"NAME": ARGS} when keyed_by_name. Without section markers every call stands alone after
    its call_start. reasoning: the markers around the family's reasoning blocks."""

    section_start: str
    section_end: str
    separator: str = ", "
    call_start: str = ""
    name_key: str = "name"
    args_key: str = "arguments"
    id_key: str = ""
    keyed_by_name: bool = False
    reasoning: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()  # markers around an answer: neither content nor calls

    def call_syntax(self) -> CallSyntax:
        section = dict(trigger=pieces(self.section_start or self.call_start)[0], section_start=self.section_start,
                       separator=self.separator, section_end=self.section_end,
                       reasoning=self.reasoning)
        if self.keyed_by_name:
            return CallSyntax(**section, call_start=self.call_start + '{"', body="name_args", args_marker='": ',
                              call_end="}")
        return CallSyntax(**section, call_start=self.call_start, name_key=self.name_key, args_key=self.args_key,
                          id_key=self.id_key)


class JsonCallsParser(SectionParser):
    def __init__(self, syntax: JsonCalls):
        self.syntax = syntax
        self.name_keys, self.args_keys = (syntax.name_key,), (syntax.args_key,)
        # Apriel: section ["<tool_calls>", "["] ... ["]", "</tool_calls>"], between [","];
        # MiniMax M1: nothing between, one object per line; GigaChat 3.1: no section, call ["<|function_call|>"]
        super().__init__(section_start=syntax.section_start, section_end=syntax.section_end,
                         call_start=syntax.call_start, separator=syntax.separator, reasoning=syntax.reasoning,
                         dropped=syntax.dropped)

    def call_section(self):
        yield from self.expect_pieces(self.section_open)
        while True:
            yield from self.expect_pieces(self.call_open)
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            yield from self.call()
            if not self.section_open:  # every call stands alone
                return
            if (yield from self.next_of(("{", *self.between[:1], self.section_close[0]))) == "{":
                if self.between:
                    raise Malformed(f"expected {self.between[0]!r} between calls")
                continue  # the next object on its own line
            if (yield from self.expect_one((*self.between[:1], self.section_close[0]))) == self.section_close[0]:
                break
            yield from self.expect_pieces(self.between[1:])
        yield from self.closing(self.section_close[1:])

    def call(self):
        if not self.syntax.keyed_by_name:
            yield from self.call_object()
        else:
            yield from self.expect("{")
            name = yield from self.json_string()
            yield from self.expect_pieces([":"])
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            self.start_call(name)
            yield from self.arguments(self.argument)
            yield from self.expect_pieces(["}"])
        self.end_call()


class JsonCallsFormat(MarkedFormat):
    """A family that calls in a JsonCalls syntax."""

    def parser(self, tools) -> JsonCallsParser:
        return JsonCallsParser(self.description)
