"""Cohere Command R7B / Command A tool calling: a JSON list of actions.

    <|START_ACTION|>[
        {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}
    ]<|END_ACTION|>

The templates number the calls themselves ("tool_call_id", an index in the conversation) and
link the results to them; the model's numbers are ignored (ids are fresh). The plan before the
actions comes inside <|START_THINKING|>...<|END_THINKING|>, an answer inside
<|START_RESPONSE|>...<|END_RESPONSE|> (the markers are not content). Grammar, parser and writer come
from COMMAND (json_calls.py).
"""

from __future__ import annotations

from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

COMMAND = JsonCalls(section_start="<|START_ACTION|>[\n    ", separator=",\n    ", section_end="\n]<|END_ACTION|>",
                    name_key="tool_name", args_key="parameters", id_key="tool_call_id",
                    reasoning=(("<|START_THINKING|>", "<|END_THINKING|>"),),
                    dropped=("<|START_RESPONSE|>", "<|END_RESPONSE|>"))


@register
class CommandFormat(JsonCallsFormat):
    name = "command"
    description = COMMAND
    template_markers = ("<|START_ACTION|>",)
