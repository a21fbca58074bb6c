"""What an answer looks like apart from being right: are its calls well-formed, and did call
text leak into the content?

These are the two properties constrained decoding promises, so the benchmark measures them
on every answer, right or wrong.
"""

from __future__ import annotations

import json
import re

from ..grammars.schema import validate_instance
from ..messages import ToolCall
from .bfcl import ToolSet

# Call syntax of the families we know, and generic JSON call shapes. Text like this in
# `content` means a call was written as prose instead of being returned as a call.
_CALL_MARKERS = re.compile(r"<tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>|\"tool_calls\"\s*:|\"function\"\s*:\s*\{")


def parse_arguments(text: str) -> dict | None:
    """The arguments as a dict, or None when they are not a JSON object."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def is_valid_call(call: ToolCall, tools: ToolSet) -> bool:
    """Names an offered tool, and its arguments parse and validate against that tool's schema."""
    spec = tools.spec(call.name)
    arguments = parse_arguments(call.arguments)
    if spec is None or arguments is None:
        return False
    return validate_instance(arguments, spec.parameters) is None


def leaks_call(content: str | None, tools: ToolSet) -> bool:
    """Content that looks like a tool call: a family's call markers, a JSON object naming an
    offered tool, or an offered tool written as `name(`."""
    if not content:
        return False
    if _CALL_MARKERS.search(content):
        return True
    names = {*tools.original, *tools.original.values()}
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return bool(alternatives) and re.search(
        rf"\"name\"\s*:\s*\"(?:{alternatives})\"|(?<![\w.])(?:{alternatives})\s*\(", content) is not None
