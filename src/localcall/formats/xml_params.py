"""Call syntaxes that write one XML-like block per argument (Qwen3-Coder's <parameter=KEY>,
GLM's <arg_key>/<arg_value>), from one description each.

A family declares an XmlParams: the markers around the name, each argument and the call, laid
out as its template writes them. From it come the grammar (its CallSyntax: the arguments in
the schema's order, each string raw within its enum and length bounds, each other value as
JSON matching its schema), the parser and write(calls), so what the grammar admits is what
the parser reads and what write() produces.

Parser outcomes (besides those of DescribedParser, whose text and reasoning rules it keeps):
- Values are typed by the tool's schema: a string argument is its raw text (without the
  newline framing that the layout puts around it); any other argument is read as JSON (raw
  text if it is not JSON, which the schema check after generation then reports).
- Whitespace between markers is layout. A call whose last closing marker is missing at the
  very end of the output is accepted, as DescribedParser accepts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from ..messages import ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, value_json
from .described import DescribedParser
from .hermes import THINK, TOOL_CALL
from .stream import ENDED, Malformed
from .templated import TemplateFormat

MAX_NAME = 256
MAX_VALUE = 1 << 20


@dataclass(frozen=True)
class XmlParams:
    """One call is call_open NAME name_end, then per argument param_open KEY key_end VALUE
    value_end, then call_close; calls are joined by separator. Every marker's text is as the
    writer lays it out; optional_newlines lets the model leave out any of their newlines."""

    call_open: str
    name_end: str
    param_open: str
    key_end: str
    value_end: str
    call_close: str
    separator: str
    optional_newlines: bool = False
    reasoning: tuple[tuple[str, str], ...] = (THINK,)

    def call_syntax(self) -> CallSyntax:
        return CallSyntax(trigger=TOOL_CALL, call_start=self.call_open, body="xml_params", args_marker=self.name_end,
                          param_start=self.param_open, param_name_end=self.key_end, param_end=self.value_end,
                          call_end=self.call_close, separator=self.separator, optional_newlines=self.optional_newlines,
                          reasoning=self.reasoning)


def _markers(layout: str) -> list[str]:
    return [m.strip() for m in layout.split("\n") if m.strip()]


class XmlParamsParser(DescribedParser):
    """Text and reasoning as DescribedParser reads them; each <tool_call> block as XmlParams lays it out."""

    def __init__(self, syntax: XmlParams, tools: list[ToolSpec]):
        self.syntax = syntax
        self.schemas = {t.name: t.parameters.get("properties", {}) for t in tools}
        self.opening = _markers(syntax.call_open.removeprefix(TOOL_CALL))  # Qwen: ["<function="]
        self.name_end = _markers(syntax.name_end)                          # Qwen: [">"]; GLM: none
        self.key_end = _markers(syntax.key_end)                            # GLM: ["</arg_key>", "<arg_value>"]
        self.value_end = _markers(syntax.value_end)[0]                     # "</parameter>", "</arg_value>"
        self.call_closers = _markers(syntax.call_close)                    # Qwen: ["</function>", "</tool_call>"]
        super().__init__(syntax.call_syntax())

    def call_section(self, marker: str, prefixed: bool):
        s = self.syntax
        self.open_section()
        yield from self.expect(TOOL_CALL)
        yield from self.markers(self.opening)
        name = (yield from self.name()).strip()
        self.start_call(name)
        properties = self.schemas.get(name, {})
        self.argument("{")
        first = True
        while True:
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            if (yield from self.expect_one((s.param_open, self.call_closers[0]))) != s.param_open:
                break
            key = (yield from self.read_until(self.key_end[0], MAX_NAME)).strip()
            yield from self.markers(self.key_end[1:])
            raw = yield from self.read_until(self.value_end, MAX_VALUE)
            raw = raw.removeprefix("\n") if s.key_end.endswith("\n") else raw
            raw = raw.removesuffix("\n") if s.value_end.startswith("\n") else raw
            self.argument(("" if first else ", ") + json.dumps(key) + ": " + value_json(raw, properties.get(key)))
            first = False
        yield from self.closing("\n".join(self.call_closers[1:]))  # Qwen's "</tool_call>"
        self.argument("}")
        self.end_call()
        self.close_section()

    def name(self):
        if self.name_end:
            return (yield from self.read_until(self.name_end[0], MAX_NAME))
        parts: list[str] = []  # the name runs up to the first argument or the end of the call
        if (yield from self.text_until((self.syntax.param_open, self.call_closers[0]), parts.append)) is None:
            raise Malformed(ENDED)
        return "".join(parts)


class XmlParamsFormat(TemplateFormat):
    """A family that renders with the model's own template and calls in an XmlParams syntax."""

    description: ClassVar[XmlParams]
    # The family is the model's when its template writes all of these.
    template_markers: ClassVar[tuple[str, ...]]

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return self.description.call_syntax()

    def parser(self, tools) -> XmlParamsParser:
        return XmlParamsParser(self.description, tools)

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        return 30 if template is not None and all(m in template for m in cls.template_markers) else 0
