"""NVIDIA Nemotron Nano v2 tool calling: one JSON list inside <TOOLCALL>.

    <TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</TOOLCALL>

Reasoning comes inside <think>...</think>. Grammar, parser and writer come from NEMOTRON_V2
(json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

NEMOTRON_V2 = JsonCalls(section_start="<TOOLCALL>[", section_end="]</TOOLCALL>", reasoning=(("<think>", "</think>"),))


@register
class NemotronV2Format(JsonCallsFormat):
    name = "nemotron_v2"
    description = NEMOTRON_V2
    template_markers = ("<TOOLCALL>[",)
