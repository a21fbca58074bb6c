"""Cohere Command R+ tool calling: "Action:" and a JSON list of actions in a ```json block.

    Action:
    ```json
    [
        {"tool_name": "get_weather", "parameters": {"city": "Paris"}}
    ]```

Grammar, parser and writer come from COMMAND_R_PLUS (json_calls.py); Command R7B and A write
their actions between control tokens instead (command.py).
"""

from __future__ import annotations

import copy

from ..messages import Message, ToolSpec
from .base import register
from .json_calls import JsonCalls, JsonCallsFormat

COMMAND_R_PLUS = JsonCalls(section_start="Action:\n```json\n[\n    ", separator=",\n    ", section_end="\n]```",
                           name_key="tool_name", args_key="parameters")


@register
class CommandRPlusFormat(JsonCallsFormat):
    name = "command_r_plus"
    description = COMMAND_R_PLUS
    template_markers = ("Action:\\n```json\\n[", "<|START_OF_TURN_TOKEN|>")  # the template's own escapes

    def adapt(self, messages: list[Message], tools: list[ToolSpec] | None):
        """The template writes each tool as a Python signature with a docstring line per
        argument, and fails on an argument without a description: such an argument gets an
        empty one (in the prompt only)."""
        messages, tool_dicts = super().adapt(messages, tools)
        tool_dicts = copy.deepcopy(tool_dicts)  # the dicts hold the ToolSpecs' own schemas
        for tool in tool_dicts or ():
            for schema in tool["function"].get("parameters", {}).get("properties", {}).values():
                if isinstance(schema, dict):
                    schema.setdefault("description", "")
        return messages, tool_dicts
