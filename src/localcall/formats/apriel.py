"""ServiceNow Apriel 1.5 / 1.6 tool calling: one JSON list inside <tool_calls>.

    <tool_calls>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {...}]</tool_calls>

The templates may add an "id" to each object; the model's ids are ignored (ids are fresh).
Apriel 1.5 reasons inside <thinking>...</thinking>; Apriel 1.6's generation prompt opens its
reasoning ("Here are my reasoning steps:"), which ends at [BEGIN FINAL RESPONSE]. Grammar,
parser and writer come from APRIEL (json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

# Apriel 1.5 reasons inside <thinking>; Apriel 1.6's generation prompt opens its reasoning with
# this sentence, and the answer follows [BEGIN FINAL RESPONSE].
APRIEL = JsonCalls(section_start="<tool_calls>[", section_end="]</tool_calls>",
                   reasoning=(("<thinking>", "</thinking>"),
                              ("Here are my reasoning steps:\n", "[BEGIN FINAL RESPONSE]")))


@register
class AprielFormat(JsonCallsFormat):
    name = "apriel"
    description = APRIEL
    template_markers = ("<tool_calls>[",)
