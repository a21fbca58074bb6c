"""Upstage Solar Open tool calling: control tokens around a call id, the name and the JSON.

    <|tool_calls|><|tool_call:begin|>call_1<|tool_call:name|>get_weather<|tool_call:args|>{"city": "Paris"}<|tool_call:end|><|calls|>

The assistant turn opens with <|tool_calls|> (calls) or <|content|> (text, the marker not
content); reasoning is a turn of its own, <|think|>...<|end|>, after which the model opens the
next one (<|begin|>assistant, not content either). The model makes up the call's id; it is
ignored (ids are fresh). Grammar, parser and writer come from SOLAR
(named_calls.py).
"""

from __future__ import annotations

from .base import register
from .named_calls import NamedCalls, NamedCallsFormat

SOLAR = NamedCalls(section_start="<|tool_calls|>", call_start="<|tool_call:begin|>", call_id_end="<|tool_call:name|>",
                   args_marker="<|tool_call:args|>", call_end="<|tool_call:end|>", section_end="<|calls|>",
                   reasoning=(("<|think|>", "<|end|>"),), dropped=("<|content|>", "<|begin|>assistant"))


@register
class SolarFormat(NamedCallsFormat):
    name = "solar"
    description = SOLAR
    template_markers = ("<|tool_call:begin|>", "<|tool_call:name|>")
