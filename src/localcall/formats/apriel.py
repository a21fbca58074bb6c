"""ServiceNow Apriel 1.5 / 1.6 tool calling: one JSON list inside <tool_calls>.

    <tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {...}]</tool_calls>

The templates may add an "id" to each object; the model's ids are ignored (ids are fresh).
Apriel 1.6 writes its reasoning first and the answer after [BEGIN FINAL RESPONSE]: that text
stays content. Grammar, parser and writer come from APRIEL (json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

APRIEL = JsonCalls(section_start="<tool_calls>[", section_end="]</tool_calls>")


@register
class AprielFormat(JsonCallsFormat):
    name = "apriel"
    description = APRIEL
    template_markers = ("<tool_calls>[",)
