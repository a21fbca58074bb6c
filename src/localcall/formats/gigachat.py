"""Sber GigaChat 3.1 tool calling: one JSON object after <|function_call|>.

    <|function_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}

The template shows one call per assistant turn; results come back in a "function result"
turn. Grammar, parser and writer come from GIGACHAT (json_calls.py). GigaChat 3 (without
.1) writes its call as a turn of its own after <|message_sep|>, the token that ends a turn:
it is not a family here.
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

FUNCTION_CALL = "<|function_call|>"
GIGACHAT = JsonCalls(section_start="", section_end="", separator="", call_start=FUNCTION_CALL)


@register
class GigachatFormat(JsonCallsFormat):
    name = "gigachat"
    description = GIGACHAT
    template_markers = (FUNCTION_CALL, "<|role_sep|>")
