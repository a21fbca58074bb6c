"""Gemma 4 tool calling: calls in Gemma's own value syntax between control tokens.

    <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:2}<tool_call|>

Arguments are written with their keys unquoted and sorted, strings between <|"|> tokens,
objects as {key:value,...}, arrays as [a,b], numbers, booleans and null as in JSON. Results
come back inside <|tool_response>...<tool_response|>, rendered by the template. Reasoning is
a channel: <|channel>thought\\n...<channel|>.

The grammar writes exactly that syntax for each tool's schema (grammars/spec.py, body
"gemma"); write() gives the same text, which the parser reads back.

Parser outcomes (besides those of every parser, see stream.py):
- <|channel>NAME\\n...<channel|> is ReasoningDelta (the channel name is not).
- A call is streamed as one ToolCallDelta with its arguments as JSON, once its closing brace
  has come. Keys may also come quoted with <|"|>, as the template writes nested keys of
  tool declarations.
"""

from __future__ import annotations

import json

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .stream import ENDED, Malformed, StreamParser
from .templated import TemplateFormat

TOOL_CALL, TOOL_CALL_END, QUOTE = "<|tool_call>", "<tool_call|>", '<|"|>'
CHANNEL, CHANNEL_END = "<|channel>", "<channel|>"
CALL_PREFIX = "call:"
MAX_NAME = 256
MAX_VALUE = 1 << 20


class Gemma4Parser(StreamParser):
    # The markers, which FunctionGemma (functiongemma.py) has its own of.
    call_open, call_close, quote = TOOL_CALL, TOOL_CALL_END, QUOTE
    stop: str | None = None  # where the model's own turn ends (FunctionGemma: a result would follow)

    def parse(self):
        while True:
            marker = yield from self.text_until((self.call_open, CHANNEL, *filter(None, [self.stop])), self.content)
            if marker is None or marker == self.stop:
                return
            if marker == CHANNEL:
                yield from self.expect(CHANNEL)
                yield from self.read_until("\n", MAX_NAME)  # the channel's name: "thought"
                if (yield from self.text_until((CHANNEL_END,), self.reasoning)) is None:
                    return
                yield from self.expect(CHANNEL_END)
            else:
                yield from self.call()

    def call(self):
        self.open_section()
        yield from self.expect(self.call_open)
        yield from self.expect(CALL_PREFIX)
        name = (yield from self.read_until("{", MAX_NAME)).strip()
        arguments = yield from self.object_body()
        self.start_call(name)
        self.argument(json.dumps(arguments, ensure_ascii=False))
        self.end_call()
        if (yield from self.skip_space()) is not None:
            yield from self.expect(self.call_close)
        self.close_section()

    def value(self):
        first = yield from self.skip_space()
        if first is None:
            raise Malformed(ENDED)
        if first == "{":
            self.take(1)
            return (yield from self.object_body())
        if first == "[":
            self.take(1)
            return (yield from self.array_body())
        if first == "<":
            return (yield from self.quoted())
        parts: list[str] = []
        if (yield from self.text_until((",", "}", "]", self.call_close), parts.append)) is None:
            raise Malformed(ENDED)
        try:
            return json.loads("".join(parts))
        except json.JSONDecodeError:
            raise Malformed(f"{''.join(parts)[:40]!r} is not a value") from None

    def quoted(self):
        yield from self.expect(self.quote)
        return (yield from self.read_until(self.quote, MAX_VALUE))

    def object_body(self):
        """After "{": key:value pairs up to the closing brace."""
        result = {}
        while (yield from self.skip_space()) != "}":
            if self.buf.startswith("<"):
                key = yield from self.quoted()
                yield from self.skip_space()
                yield from self.expect(":")
            else:
                key = (yield from self.read_until(":", MAX_NAME)).strip()
            result[key] = yield from self.value()
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            if (yield from self.expect_one((",", "}"))) == "}":
                return result
        self.take(1)
        return result

    def array_body(self):
        """After "[": values up to the closing bracket."""
        result = []
        while (yield from self.skip_space()) != "]":
            result.append((yield from self.value()))
            if (yield from self.skip_space()) is None:
                raise Malformed(ENDED)
            if (yield from self.expect_one((",", "]"))) == "]":
                return result
        self.take(1)
        return result


@register
class Gemma4Format(TemplateFormat):
    name = "gemma4"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return CallSyntax(trigger=TOOL_CALL, call_start=TOOL_CALL + CALL_PREFIX, body="gemma", call_end=TOOL_CALL_END,
                          string_quote=QUOTE, reasoning=((CHANNEL, CHANNEL_END),))

    def parser(self, tools) -> Gemma4Parser:
        return Gemma4Parser()

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is not None:
            return 30 if TOOL_CALL in template and TOOL_CALL_END in template else 0
        return 10 if TOOL_CALL in special.by_text and QUOTE in special.by_text else 0
