"""What the families declared by markers share (json_calls, named_calls, pythonic): marker
texts read whatever their layout, a reader that takes text as content, a reasoning block as
reasoning and a call section as the family reads it, and detection by template markers.
"""

from __future__ import annotations

import re
from typing import ClassVar

from ..vocab import SpecialTokens
from .base import CallSyntax
from .stream import ENDED, Malformed, StreamParser
from .templated import TemplateFormat

_PIECE = re.compile(r"[\[\]{},]|[^\s\[\]{},]+")


def pieces(layout: str) -> list[str]:
    """The non-layout parts of a marker text, brackets and commas apart: "<x>[\\n  " → ["<x>", "["]."""
    return _PIECE.findall(layout)


class SectionParser(StreamParser):
    """Content up to the section's (or, without section markers, the call's) first marker,
    where call_section() reads the calls; the text inside a `reasoning` block (its opening
    and closing markers) is reasoning, and a section there is not a call; `dropped` markers (Command's
    <|START_RESPONSE|> around an answer) are neither. Markers are given as their layout text;
    they are read as pieces() after whitespace."""

    def __init__(self, *, section_start: str, section_end: str, call_start: str, separator: str = "",
                 reasoning: tuple[tuple[str, str], ...] = (), dropped: tuple[str, ...] = ()):
        self.section_open, self.section_close = pieces(section_start), pieces(section_end)
        self.call_open, self.between = pieces(call_start), pieces(separator)
        self.opening, self.blocks, self.dropped = (self.section_open or self.call_open)[0], dict(reasoning), dropped
        super().__init__()

    def call(self):
        """One call, from its opening marker on."""
        raise NotImplementedError

    def call_section(self):
        """The section's calls, each read by call(); without section markers each call stands
        alone. The section's closing marker may be left out at the very end of the output."""
        yield from self.expect_pieces(self.section_open)
        while True:
            yield from self.call()
            if not self.section_open or (yield from self.skip_space()) is None:
                return
            after = yield from self.next_of((*self.between[:1], self.call_open[0], self.section_close[0]))
            if after == self.section_close[0]:
                yield from self.expect_pieces(self.section_close)
                return
            if self.between and after == self.between[0]:
                self.take(len(after))

    def parse(self):
        starts = (self.opening, *self.blocks, *self.dropped)
        while True:
            marker = yield from self.text_until(starts, self.content)
            if marker is None:
                return
            if marker in self.dropped:
                yield from self.expect(marker)
                continue
            if marker in self.blocks:
                yield from self.expect(marker)
                if not (yield from self.reasoning_block(self.blocks[marker])):
                    return
            else:
                self.open_section()
                yield from self.call_section()
                self.close_section()
            yield from self.skip_space()

    def expect_pieces(self, markers: list[str]):
        for marker in markers:
            yield from self.skip_space()
            yield from self.expect(marker)

    def next_of(self, literals: tuple[str, ...]):
        """Whichever of `literals` comes next, after whitespace (left unread); Malformed if none does."""
        while True:
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            for literal in literals:
                if self.buf.startswith(literal):
                    return literal
            if not any(literal.startswith(self.buf) for literal in literals):
                raise Malformed(f"expected one of {', '.join(map(repr, literals))}")
            if not (yield from self.more()):
                raise Malformed(ENDED)

    def closing(self, markers: list[str]):
        """The section's closing markers, which may be left out at the very end of the output."""
        for marker in markers:
            if (yield from self.skip_space()) is None:
                return
            yield from self.expect(marker)


class MarkedFormat(TemplateFormat):
    """A family that renders with the model's own template, calls in the syntax its
    `description` declares and is the model's when its template writes all `template_markers`."""

    description: ClassVar[object]  # a JsonCalls, NamedCalls, Pythonic...: anything with call_syntax()
    template_markers: ClassVar[tuple[str, ...]]
    # How surely such a template is the family's: above 30 where the markers are more telling
    # than those of a family whose syntax the template's also holds (Seed's <function=...>).
    score: ClassVar[int] = 30

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return self.description.call_syntax()

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        return cls.score if template is not None and all(m in template for m in cls.template_markers) else 0
