"""Hermes-style tool calling: Qwen 2.5, Qwen 3, Hermes 2 Pro / 3 and other ChatML models.

Prompt (ChatML): the system turn lists the tools as JSON signatures inside <tools></tools>
and asks for calls in <tool_call> tags. An assistant turn with calls holds one block per call:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

and results come back as a user turn of <tool_response>...</tool_response> blocks. Qwen 3
may first think inside <think>...</think>.

Parser outcomes (besides those of every parser, see stream.py):
- <think>...</think> is ReasoningDelta, never content, even when the output stops inside it;
  tags inside reasoning are not calls.
- Text before, between or after calls is content; whitespace right after </think> or a call
  is layout and is dropped.
- A call whose JSON is complete when the output ends without </tool_call> is accepted: the
  model stopped where only the closing tag was left. Anything else after the JSON is malformed.
"""

from __future__ import annotations

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .stream import StreamParser
from .templated import TemplateFormat

TOOL_CALL, TOOL_CALL_END = "<tool_call>", "</tool_call>"
THINK, THINK_END = "<think>", "</think>"


class HermesParser(StreamParser):
    def parse(self):
        while True:
            marker = yield from self.text_until((TOOL_CALL, THINK), self.content)
            if marker is None:
                return
            if marker == THINK:
                yield from self.expect(THINK)
                if (yield from self.text_until((THINK_END,), self.reasoning)) is None:
                    return
                yield from self.expect(THINK_END)
            else:
                yield from self.tool_call()
            yield from self.skip_space()

    def tool_call(self):
        self.open_section()
        yield from self.expect(TOOL_CALL)
        yield from self.skip_space()
        yield from self.call_object()
        if (yield from self.skip_space()) is not None:
            yield from self.expect(TOOL_CALL_END)
        self.end_call()
        self.close_section()


@register
class HermesFormat(TemplateFormat):
    name = "hermes"
    builtin = "builtin:hermes"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return CallSyntax(trigger=TOOL_CALL, call_start=TOOL_CALL + "\n", call_end="\n" + TOOL_CALL_END,
                          separator="\n")

    def parser(self, tools) -> HermesParser:
        return HermesParser()

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is not None and TOOL_CALL in template:
            return 20
        # Hermes 2 Pro keeps its tool template apart (tool_use); its default one is plain ChatML.
        if TOOL_CALL in special.by_text and (template is None or "<|im_start|>" in template):
            return 10
        return 0
