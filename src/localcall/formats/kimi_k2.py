"""Moonshot Kimi K2 tool calling: a section of calls whose ids name the function.

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>

The id is functions.NAME:N, N counting the calls of the conversation; results are shown as
"## Return of ID". OpenAI-style ids are mapped to such ids, the same way in a call and in its
result. Kimi K2 Thinking reasons inside <think>...</think>. Grammar, parser and writer come
from KIMI_K2 (named_calls.py).
"""

from __future__ import annotations

from ..messages import Message, ToolSpec
from .base import register
from .named_calls import NamedCalls, NamedCallsFormat

SECTION_BEGIN = "<|tool_calls_section_begin|>"
KIMI_K2 = NamedCalls(section_start=SECTION_BEGIN, call_start="<|tool_call_begin|>functions.", call_number=":",
                     args_marker="<|tool_call_argument_begin|>", call_end="<|tool_call_end|>",
                     section_end="<|tool_calls_section_end|>", reasoning=(("<think>", "</think>"),))


@register
class KimiK2Format(NamedCallsFormat):
    name = "kimi_k2"
    description = KIMI_K2
    template_markers = (SECTION_BEGIN,)

    def adapt(self, messages: list[Message], tools: list[ToolSpec] | None):
        ids: dict[str, str] = {}
        for msg in messages:
            for call in msg.get("tool_calls") or ():
                call["id"] = ids[call["id"]] = f"functions.{call['function']['name']}:{len(ids)}"
            if msg["role"] == "tool":
                msg["tool_call_id"] = ids.get(msg.get("tool_call_id", ""), msg.get("tool_call_id", ""))
        return super().adapt(messages, tools)
