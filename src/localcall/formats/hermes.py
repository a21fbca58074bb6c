"""Hermes-style tool calling: Qwen 2.5, Qwen 3, Hermes 2 Pro / 3 and other ChatML models.

Prompt (ChatML): the system turn lists the tools as JSON signatures inside <tools></tools>
and asks for calls in <tool_call> tags. An assistant turn with calls holds one block per call:

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

and results come back as a user turn of <tool_response>...</tool_response> blocks. Qwen 3
may first think inside <think>...</think>. Grammar, parser and writer come from SYNTAX
(described.py says how it is read): text before, between or after the blocks is content, a
block whose JSON is complete when the output ends without </tool_call> is accepted.
"""

from __future__ import annotations

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .described import DescribedFormat

TOOL_CALL, TOOL_CALL_END = "<tool_call>", "</tool_call>"
THINK = ("<think>", "</think>")

SYNTAX = CallSyntax(trigger=TOOL_CALL, call_start=TOOL_CALL + "\n", call_end="\n" + TOOL_CALL_END, separator="\n",
                    reasoning=(THINK,))


@register
class HermesFormat(DescribedFormat):
    name = "hermes"
    builtin = "builtin:hermes"
    shapes = (SYNTAX,)

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is not None and TOOL_CALL in template:
            return 20
        # Hermes 2 Pro keeps its tool template apart (tool_use); its default one is plain ChatML.
        if TOOL_CALL in special.by_text and (template is None or "<|im_start|>" in template):
            return 10
        return 0
