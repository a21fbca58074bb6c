"""Qwen3-Coder / Qwen 3.5 tool calling: one XML block per argument.

Prompt (ChatML): the template lists the tools and shows calls as

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    <parameter=days>
    2
    </parameter>
    </function>
    </tool_call>

A string value is written raw; every other value as JSON. The templates of Qwen3-Coder,
Qwen 3.5, NVIDIA Nemotron 3 Nano and StepFun 3.5 write this syntax. Qwen 3.5 may first think
inside <think>...</think>.

One description (XML_PARAMS below) gives the grammar (its CallSyntax), the parser and the
writer, so what the grammar admits is what the parser reads and what write() produces.
The grammar writes the arguments in the schema's order, each string within its enum and
length bounds, each other value as JSON matching its schema.

Parser outcomes (besides those of HermesParser, whose text and reasoning rules it keeps):
- Values are typed by the tool's schema: a string argument is the raw text between the
  newlines that frame it; any other argument is read as JSON (raw text if it is not JSON,
  which the schema check after generation then reports).
- Whitespace between the markers is layout; a call whose </function> is followed by the end
  of the output is accepted without </tool_call>.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..messages import ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, is_raw_string, register
from .hermes import TOOL_CALL, HermesParser
from .stream import ENDED, Malformed
from .templated import TemplateFormat

MAX_NAME = 256
MAX_VALUE = 1 << 20


@dataclass(frozen=True)
class XmlParams:
    """A call syntax of one block per argument, as the writer lays it out. The parser reads
    the same markers with any whitespace between them."""

    call_open: str
    name_end: str
    param_open: str
    key_end: str
    value_end: str
    call_close: str
    separator: str

    def call_syntax(self) -> CallSyntax:
        return CallSyntax(trigger=TOOL_CALL, call_start=self.call_open, body="xml_params", args_marker=self.name_end,
                          param_start=self.param_open, param_name_end=self.key_end, param_end=self.value_end,
                          call_end=self.call_close, separator=self.separator)

    def write(self, calls: list[tuple[str, dict]]) -> str:
        """The text of these calls, as the grammar admits and the parser reads it."""
        return self.separator.join(
            self.call_open + name + self.name_end
            + "".join(self.param_open + key + self.key_end + _value_text(value) + self.value_end
                      for key, value in arguments.items())
            + self.call_close
            for name, arguments in calls)


def _value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


XML_PARAMS = XmlParams(call_open=TOOL_CALL + "\n<function=", name_end=">\n", param_open="<parameter=",
                       key_end=">\n", value_end="\n</parameter>\n", call_close="</function>\n</tool_call>",
                       separator="\n")


class XmlParamsParser(HermesParser):
    def __init__(self, syntax: XmlParams, tools: list[ToolSpec]):
        self.syntax = syntax
        self.schemas = {t.name: t.parameters.get("properties", {}) for t in tools}
        self.opening = _markers(syntax.call_open.removeprefix(TOOL_CALL))  # ["<function="]
        self.closing = _markers(syntax.call_close)  # ["</function>", "</tool_call>"]
        super().__init__()

    def tool_call(self):
        s = self.syntax
        self.open_section()
        yield from self.expect(TOOL_CALL)
        for marker in self.opening:  # "<function="
            yield from self.skip_space()
            yield from self.expect(marker)
        name = (yield from self.read_until(s.name_end.strip(), MAX_NAME)).strip()
        self.start_call(name)
        properties = self.schemas.get(name, {})
        self.argument("{")
        first = True
        while True:
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            if (yield from self.expect_one((s.param_open, self.closing[0]))) != s.param_open:
                break
            key = (yield from self.read_until(s.key_end.strip(), MAX_NAME)).strip()
            raw = yield from self.read_until(s.value_end.strip(), MAX_VALUE)
            raw = raw.removeprefix("\n") if s.key_end.endswith("\n") else raw
            raw = raw.removesuffix("\n") if s.value_end.startswith("\n") else raw
            self.argument(("" if first else ", ") + json.dumps(key) + ": " + _value_json(raw, properties.get(key)))
            first = False
        for marker in self.closing[1:]:  # "</tool_call>", which may be left out at the very end
            if (yield from self.skip_space()) is None:
                break
            yield from self.expect(marker)
        self.argument("}")
        self.end_call()
        self.close_section()


def _markers(layout: str) -> list[str]:
    return [m.strip() for m in layout.split("\n") if m.strip()]


def _value_json(raw: str, schema) -> str:
    if isinstance(schema, dict) and is_raw_string(schema):
        return json.dumps(raw, ensure_ascii=False)
    try:
        return json.dumps(json.loads(raw), ensure_ascii=False)
    except json.JSONDecodeError:
        return json.dumps(raw, ensure_ascii=False)


@register
class Qwen3CoderFormat(TemplateFormat):
    name = "qwen3_coder"
    description = XML_PARAMS

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return self.description.call_syntax()

    def parser(self, tools) -> XmlParamsParser:
        return XmlParamsParser(self.description, tools)

    def write(self, calls: list[tuple[str, dict]]) -> str:
        return self.description.write(calls)

    def builtin_name(self, special: SpecialTokens) -> str:
        raise ValueError("the qwen3_coder family renders with the model's own template, and this model has none "
                         "that shows tools; set chat_template in models.toml")

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        return 30 if template is not None and "<function=" in template and "<parameter=" in template else 0
