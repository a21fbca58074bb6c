"""Call syntaxes that write a call as an <invoke name="NAME"> element with one element per
argument (MiniMax M2's <parameter name="KEY">, DeepSeek V3.2 / V4's DSML, MiniCPM's
<function name=...><param name=...>), from one description each.

A family declares an XmlInvoke: the section's markers (none when every call stands alone),
the markers around the name, each argument and the call, laid out as its template writes
them. From it come the grammar (CallSyntax body "xml_params": the arguments in the schema's
order, each string raw within its enum and length bounds, each other value as JSON matching
its schema), the parser and write(calls).

Parser outcomes (besides those of every parser, see stream.py):
- Values are typed by the markup when it says (DSML's string="true" / "false"), else by the
  tool's schema: a string argument is its raw text (a <![CDATA[...]]> wrapper, which MiniCPM's
  template asks for, is taken off), any other argument is read as JSON (raw text if it is not
  JSON, which the schema check after generation then reports).
- Whitespace between elements is layout. The section's closing marker may be missing at the
  very end of the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..messages import ToolSpec
from .base import CallSyntax, value_json
from .sections import MarkedFormat, SectionParser, pieces
from .stream import Malformed
from .xml_params import MAX_NAME, MAX_VALUE

CDATA, CDATA_END = "<![CDATA[", "]]>"


@dataclass(frozen=True)
class XmlInvoke:
    """[section_start] call_open NAME name_end, per argument param_open KEY key_end VALUE
    value_end, then call_close; calls joined by separator; [section_end]. json_key_end: what
    ends the key of a JSON value when it differs from key_end (DSML's string="false").
    reasoning: the markers around the family's reasoning blocks."""

    call_open: str
    name_end: str
    param_open: str
    key_end: str
    value_end: str
    call_close: str
    section_start: str = ""
    section_end: str = ""
    separator: str = ""
    json_key_end: str = ""
    reasoning: tuple[tuple[str, str], ...] = ()

    def call_syntax(self) -> CallSyntax:
        return CallSyntax(trigger=pieces(self.section_start or self.call_open)[0], section_start=self.section_start,
                          call_start=self.call_open, body="xml_params", args_marker=self.name_end,
                          param_start=self.param_open, param_name_end=self.key_end,
                          param_json_name_end=self.json_key_end, param_end=self.value_end,
                          call_end=self.call_close, separator=self.separator, section_end=self.section_end,
                          reasoning=self.reasoning)


class XmlInvokeParser(SectionParser):
    def __init__(self, syntax: XmlInvoke, tools: list[ToolSpec]):
        self.syntax = syntax
        self.schemas = {t.name: t.parameters.get("properties", {}) for t in tools}
        self.name_end = pieces(syntax.name_end)            # ['">']; Hy3: ["<tool_sep:opensource>"]
        self.param_open = pieces(syntax.param_open)        # ["<parameter", 'name="']
        self.key_end = pieces(syntax.key_end)              # ['">']; DSML: ['"', 'string="true">']
        self.json_key_end = pieces(syntax.json_key_end)    # DSML: ['"', 'string="false">']
        self.value_end = pieces(syntax.value_end)[0]       # "</parameter>"
        self.call_close = pieces(syntax.call_close)        # ["</invoke>"]
        super().__init__(section_start=syntax.section_start, section_end=syntax.section_end,
                         call_start=syntax.call_open, separator=syntax.separator, reasoning=syntax.reasoning)

    def call(self):
        yield from self.expect_pieces(self.call_open)
        name = (yield from self.read_until(self.name_end[0], MAX_NAME)).strip()
        yield from self.expect_pieces(self.name_end[1:])
        self.start_call(name)
        properties = self.schemas.get(name, {})
        self.argument("{")
        first = True
        while (yield from self.next_of((self.param_open[0], self.call_close[0]))) == self.param_open[0]:
            yield from self.expect_pieces(self.param_open)
            key = (yield from self.read_until(self.key_end[0], MAX_NAME)).strip()
            marked = None  # DSML: whether the markup says the value is JSON
            if self.json_key_end:
                marked = (yield from self.next_of((self.key_end[1], self.json_key_end[1]))) == self.json_key_end[1]
                yield from self.expect_pieces((self.json_key_end if marked else self.key_end)[1:])
            else:
                yield from self.expect_pieces(self.key_end[1:])
            raw = yield from self.read_until(self.value_end, MAX_VALUE)
            self.argument(("" if first else ", ") + json.dumps(key) + ": " + _typed(raw, marked, properties.get(key)))
            first = False
        yield from self.expect_pieces(self.call_close[:1])
        yield from self.closing(self.call_close[1:])  # a lone call's wrapper may be left out at the very end
        self.argument("}")
        self.end_call()


def _typed(raw: str, marked_json: bool | None, schema) -> str:
    """The value's JSON text: as the markup says (DSML), else as the schema says."""
    if raw.startswith(CDATA) and raw.endswith(CDATA_END):
        raw = raw[len(CDATA):-len(CDATA_END)]
    if marked_json is None:
        return value_json(raw, schema)
    if not marked_json:
        return json.dumps(raw, ensure_ascii=False)
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except json.JSONDecodeError:
        raise Malformed("a value marked as JSON is not JSON") from None


class XmlInvokeFormat(MarkedFormat):
    """A family that calls in an XmlInvoke syntax."""

    def parser(self, tools) -> XmlInvokeParser:
        return XmlInvokeParser(self.description, tools)
