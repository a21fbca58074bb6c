"""Liquid LFM2 / LFM2.5 tool calling: a pythonic list between control tokens.

    <|tool_call_start|>[get_weather(city='Paris', days=2)]<|tool_call_end|>

The template writes strings in single quotes, dicts as JSON and other values as Python
prints them; the grammar writes strings as JSON strings (double quotes, valid Python, every
string keyword of the schema enforced). Reasoning comes inside <think>...</think>. Grammar,
parser and writer come from LFM2 (pythonic.py).
"""

from __future__ import annotations

from .base import register
from .pythonic import Pythonic, PythonicFormat

TOOL_CALL_START = "<|tool_call_start|>"
LFM2 = Pythonic(section_start=TOOL_CALL_START + "[", section_end="]<|tool_call_end|>",
                reasoning=(("<think>", "</think>"),))


@register
class Lfm2Format(PythonicFormat):
    name = "lfm2"
    description = LFM2

    @classmethod
    def detect(cls, template, special) -> int:
        if template is not None:
            return 30 if TOOL_CALL_START in template else 0
        return 10 if TOOL_CALL_START in special.by_text else 0
