"""Pythonic tool calling: a list of Python calls with keyword arguments, from one description.

    [get_weather(city="Paris", days=2), get_time(timezone="UTC")]

Values are Python literals: strings quoted ('Paris' or "Paris"), True / False / None, lists,
dicts. LFM2 writes the list between <|tool_call_start|> and <|tool_call_end|> (lfm2.py); Llama
3.2 and Llama 4, as vLLM's pythonic parser runs them, write it bare as the whole answer: the
`pythonic` family here, chosen with `chat_format = "pythonic"` in models.toml (it is never
detected: Llama 3.2's own template teaches JSON calls).

A family declares a Pythonic description; from it come the grammar (CallSyntax body
"pythonic": the arguments in the schema's order, every value a literal matching its schema,
strings written as JSON strings, which Python reads the same), the parser and write(calls).

Parser outcomes (besides those of every parser, see stream.py):
- A call is ToolCallStart once its name and "(" have come, then one ToolCallDelta with the
  arguments as JSON once its ")" has. Dicts the template writes as JSON (true, false, null)
  are read too. Positional arguments, or values that are not literals, are malformed.
- Bare lists (no markers) are calls only when the answer starts with "["; any other answer
  is content. With markers, text around the section is content, and the family's reasoning
  block is ReasoningDelta.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from ..messages import ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .jinja import BUILTIN_PREFIX, load_builtin_template
from .sections import MarkedFormat, SectionParser, pieces
from .stream import ENDED, Malformed

MAX_NAME = 256
MAX_ARGUMENTS = 1 << 20
_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
_JSON_NAMES = {"true": True, "false": False, "null": None}  # LFM2's template writes dicts with tojson


@dataclass(frozen=True)
class Pythonic:
    """section_start, calls NAME(key=value, ...) joined by ", ", section_end. leading: the
    list has no markers of its own, so it is a call section only at the start of the answer.
    reasoning: the markers around the family's reasoning blocks."""

    section_start: str
    section_end: str
    leading: bool = False
    reasoning: tuple[tuple[str, str], ...] = ()

    def call_syntax(self) -> CallSyntax:
        return CallSyntax(trigger=pieces(self.section_start)[0], section_start=self.section_start, separator=", ",
                          section_end=self.section_end, body="pythonic", args_marker="(", call_end=")",
                          leading=self.leading, reasoning=self.reasoning)


class PythonicParser(SectionParser):
    def __init__(self, syntax: Pythonic):
        self.syntax = syntax
        # LFM2's section: ["<|tool_call_start|>", "["] ... ["]", "<|tool_call_end|>"]
        super().__init__(section_start=syntax.section_start, section_end=syntax.section_end, call_start="",
                         reasoning=syntax.reasoning)

    def parse(self):
        if not self.syntax.leading:
            yield from super().parse()
            return
        if (yield from self.skip_space()) == "[":
            self.open_section()
            yield from self.call_section()
            self.close_section()
        yield from self.text_until((), self.content)

    def call_section(self):
        yield from self.expect_pieces(self.section_open)
        if (yield from self.skip_space()) is None:
            raise Malformed(ENDED)
        if not self.buf.startswith("]"):  # [] holds no call
            while True:
                yield from self.call()
                if (yield from self.next_of((",", "]"))) == "]":
                    break
                self.take(1)
        self.take(1)
        yield from self.closing(self.section_close[1:])

    def call(self):
        name = (yield from self.read_until("(", MAX_NAME)).strip()
        if not _NAME.fullmatch(name):
            raise Malformed("the text before '(' is not a tool name")
        self.start_call(name)
        text = yield from self.arguments_text()
        self.argument(json.dumps(keyword_arguments(text), ensure_ascii=False))
        self.end_call()

    def arguments_text(self):
        """The text up to the ")" that closes the call (consumed), quotes and brackets respected."""
        depth, quote, escaped, at = 0, None, False, 0
        while True:
            while at < len(self.buf):
                char = self.buf[at]
                if quote:
                    escaped, quote = (False, quote) if escaped else (char == "\\", None if char == quote else quote)
                elif char in "'\"":
                    quote = char
                elif char in "([{":
                    depth += 1
                elif char in ")]}":
                    if not depth:
                        if char != ")":
                            raise Malformed(f"unbalanced {char!r} in the call's arguments")
                        text = self.take(at)
                        self.take(1)
                        return text
                    depth -= 1
                at += 1
            if at > MAX_ARGUMENTS:
                raise Malformed(f"no ')' within {MAX_ARGUMENTS} characters")
            if not (yield from self.more()):
                raise Malformed(ENDED)


def keyword_arguments(text: str) -> dict:
    """key=value, ... as a dict of JSON values; Malformed unless every value is a literal."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL character
        raise Malformed("the call's arguments are not Python keyword arguments") from None
    if call.args or any(k.arg is None for k in call.keywords):
        raise Malformed("the call has positional arguments; only key=value is read")
    return {k.arg: _literal(k.value) for k in call.keywords}


def _literal(node: ast.AST):
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
        return node.value
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
        return {k.value: _literal(v) for k, v in zip(node.keys, node.values)}
    raise Malformed(f"{ast.unparse(node)[:40]!r} is not a literal value")


class PythonicFormat(MarkedFormat):
    """A family that calls in a Pythonic syntax."""

    def parser(self, tools: list[ToolSpec]) -> PythonicParser:
        return PythonicParser(self.description)


BARE = Pythonic(section_start="[", section_end="]", leading=True)
# The instruction Meta's Llama 3.2 prompt format (and vLLM's pythonic templates) give.
_TEACHES_PYTHONIC = "[func_name1(params_name1=params_value1"


@register
class BarePythonicFormat(PythonicFormat):
    """Llama 3.2 / Llama 4 as vLLM's pythonic parser runs them. Their own templates teach
    other syntaxes, so unless the model's template asks for pythonic lists itself, the builtin
    template (Llama 3 turns, Meta's pythonic instruction) renders every conversation with tools."""

    name = "pythonic"
    description = BARE
    builtin = "builtin:pythonic"

    def pick_template(self, template: str | None, tools_used: bool, special: SpecialTokens) -> tuple[str, str]:
        if (tools_used and template is not None and not template.startswith(BUILTIN_PREFIX)
                and _TEACHES_PYTHONIC not in template):
            return load_builtin_template(self.builtin), self.builtin
        return super().pick_template(template, tools_used, special)

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        return 0
