"""MiniMax M1 tool calling: one JSON object per line inside <tool_calls>.

    <tool_calls>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    {"name": "get_time", "arguments": {"timezone": "UTC"}}
    </tool_calls>

Reasoning comes inside <think>...</think>. Grammar, parser and writer come from MINIMAX_M1
(json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

MINIMAX_M1 = JsonCalls(section_start="<tool_calls>\n", separator="\n", section_end="\n</tool_calls>",
                       reasoning=(("<think>", "</think>"),))


@register
class MinimaxM1Format(JsonCallsFormat):
    name = "minimax_m1"
    description = MINIMAX_M1
    template_markers = ("ai name=assistant", "<tool_calls>")
