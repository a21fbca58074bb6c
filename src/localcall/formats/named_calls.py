"""Call syntaxes that write each call as markers around a tool name and its JSON arguments
(Kimi K2's <|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}, DeepSeek
R1's <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME + a ```json block, Functionary's
<function=NAME>{...}</function>), from one description each.

A family declares a NamedCalls: the section's markers (none when every call stands alone),
the call's opening, what follows the name, the call's closing and the separator, laid out as
its template writes them. From it come the grammar (CallSyntax body "name_args": the name fixed
to an offered tool, the arguments matching its schema), the parser and write(calls).

Parser outcomes (besides those of every parser, see stream.py):
- Text outside calls is content; the family's reasoning block, if it has one, is
  ReasoningDelta, and a call inside it is not a call.
- Whitespace between markers is layout. A call number after the name (Kimi's ":0") and an
  id before it (Solar's) are skipped: ids are fresh.
- The section's closing marker may be missing at the very end of the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import CallSyntax
from .sections import MarkedFormat, SectionParser, pieces
from .stream import ENDED, Malformed

MAX_NAME = 256
_NAME = re.compile(r"[\w.\-]+")


@dataclass(frozen=True)
class NamedCalls:
    """[section_start] call_start [ID call_id_end] NAME [call_number N] args_marker ARGS
    call_end, calls joined by separator, [section_end]. call_id_end: what ends the id the model
    makes up (Solar). call_number: the text between the name and the call's number in the
    turn (Kimi: ":"). reasoning: the markers around the family's reasoning blocks."""

    call_start: str
    args_marker: str
    call_end: str
    section_start: str = ""
    section_end: str = ""
    separator: str = ""
    call_number: str = ""
    call_id_end: str = ""
    reasoning: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()  # markers around an answer: neither content nor calls

    def call_syntax(self) -> CallSyntax:
        return CallSyntax(trigger=pieces(self.section_start or self.call_start)[0], section_start=self.section_start,
                          call_start=self.call_start, body="name_args", call_number=self.call_number,
                          call_id_end=self.call_id_end, reasoning=self.reasoning,
                          args_marker=self.args_marker, call_end=self.call_end, separator=self.separator,
                          section_end=self.section_end)


class NamedCallsParser(SectionParser):
    def __init__(self, syntax: NamedCalls):
        self.syntax = syntax
        self.name_end = pieces(syntax.args_marker)[0]    # "<|tool_call_argument_begin|>", "```json", ">"
        self.args_open = pieces(syntax.args_marker)[1:]
        self.call_close = pieces(syntax.call_end)
        super().__init__(section_start=syntax.section_start, section_end=syntax.section_end,
                         call_start=syntax.call_start, separator=syntax.separator, reasoning=syntax.reasoning,
                         dropped=syntax.dropped)

    def call(self):
        yield from self.expect_pieces(self.call_open)
        if self.syntax.call_id_end:  # the model's own id for the call: ids are fresh
            yield from self.read_until(self.syntax.call_id_end, MAX_NAME)
        head = (yield from self.read_until(self.name_end, MAX_NAME)).strip()
        number = self.syntax.call_number
        name = head.rpartition(number)[0] if number and number in head else head
        if not _NAME.fullmatch(name):
            raise Malformed(f"the text before {self.name_end!r} is not a tool name")
        self.start_call(name)
        yield from self.expect_pieces(self.args_open)
        if (yield from self.skip_space()) is None:
            raise Malformed(ENDED)
        yield from self.arguments(self.argument)
        if self.section_open:
            yield from self.expect_pieces(self.call_close)
        else:  # a lone call's closing marker may be left out at the very end
            yield from self.closing(self.call_close)
        self.end_call()


class NamedCallsFormat(MarkedFormat):
    """A family that calls in a NamedCalls syntax."""

    def parser(self, tools) -> NamedCallsParser:
        return NamedCallsParser(self.description)
