"""Swiss AI Apertus tool calling: a JSON list of {"NAME": ARGS} objects between control tokens.

    <|tools_prefix|>[{"get_weather": {"city": "Paris"}}, {"get_time": {"timezone": "UTC"}}]<|tools_suffix|>

Reasoning comes inside <|inner_prefix|>...<|inner_suffix|>. Grammar, parser and writer come
from APERTUS (json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

APERTUS = JsonCalls(section_start="<|tools_prefix|>[", section_end="]<|tools_suffix|>", keyed_by_name=True,
                    reasoning=(("<|inner_prefix|>", "<|inner_suffix|>"),))


@register
class ApertusFormat(JsonCallsFormat):
    name = "apertus"
    description = APERTUS
    template_markers = ("<|tools_prefix|>",)
