"""Incremental JSON scanning: where a value ends, and how much of a string can be decoded yet.

The parsers receive generated text in pieces. They must stream a call's arguments while the
model writes them and turn a JSON string into text as soon as its characters are sure, without
waiting for the closing brace or quote. Both only need the structure of JSON (strings, escapes,
nesting), never a full parse: whether the finished value is valid is checked once it is whole.
"""

from __future__ import annotations

import json
import re

_STRUCTURE = re.compile(r'[{}\[\]"]')
_STRING_STOP = re.compile(r'["\\]')
_SCALAR_END = re.compile(r'[\s,}\]]')
# One escape, or the start of one cut off by the end of the text seen so far.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,4}|.)?", re.S)
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
# What may follow a high surrogate while its low half is still arriving.
_LOW_SURROGATE_START = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]{0,2})?)?)?)?")
_LENIENT = json.JSONDecoder(strict=False)


class ValueEnd:
    """Follows one JSON value fed in pieces and says where it ends.

    The value must start at the first character fed (no leading whitespace). Objects and
    arrays end at their matching bracket, strings at their closing quote, scalars (numbers,
    true, false, null) at the first delimiter after them.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.scalar: bool | None = None  # decided by the first character

    def feed(self, text: str) -> int | None:
        """The index in `text` just past the value's end, or None if the value goes on."""
        if not text:
            return None
        if self.scalar is None:
            self.scalar = text[0] not in '{["'
        if self.scalar:
            match = _SCALAR_END.search(text)
            return match.start() if match else None
        pos = 0
        while True:
            if self.in_string:
                if self.escaped:
                    if pos >= len(text):
                        return None
                    self.escaped = False
                    pos += 1
                match = _STRING_STOP.search(text, pos)
                if match is None:
                    return None
                pos = match.end()
                if match.group() == "\\":
                    self.escaped = True
                    continue
                self.in_string = False
                if self.depth == 0:
                    return pos
                continue
            match = _STRUCTURE.search(text, pos)
            if match is None:
                return None
            pos = match.end()
            char = match.group()
            if char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 0:
                    return pos

    @property
    def ends_at_end_of_input(self) -> bool:
        """A scalar is complete when the output stops right after it; nothing else is."""
        return bool(self.scalar)


def decodable_prefix(raw: str) -> int:
    """How many characters of a string body (no quotes) decode without cutting an escape.

    An escape split across pieces, or a \\uD83D waiting for the low half of its surrogate
    pair, stays behind until the rest arrives.
    """
    for match in _ESCAPE.finditer(raw):
        escape, end = match.group(), match.end()
        cut_off = end == len(raw) and (escape == "\\" or (escape[1] == "u" and len(escape) < 6))
        if cut_off:
            return match.start()
        if _HIGH_SURROGATE.fullmatch(escape) and len(raw) - end < 6 \
                and _LOW_SURROGATE_START.fullmatch(raw[end:]):
            return match.start()
    return len(raw)


def decode_string_body(raw: str) -> str:
    """The text of a JSON string body (without its quotes); raw control characters are allowed."""
    return _LENIENT.decode('"' + raw + '"')
