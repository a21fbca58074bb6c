"""MeetKai Functionary v3.1 tool calling (on Llama 3.1): <function=NAME>{...}</function>.

    <function=get_weather>{"city": "Paris"}</function>

Each call stands alone. Grammar, parser and writer come from FUNCTIONARY (named_calls.py).
"""

from __future__ import annotations

from .base import register
from .named_calls import NamedCalls, NamedCallsFormat

FUNCTIONARY = NamedCalls(call_start="<function=", args_marker=">", call_end="</function>")


@register
class FunctionaryFormat(NamedCallsFormat):
    name = "functionary"
    description = FUNCTIONARY
    template_markers = ("<function=", "</function>", "<|start_header_id|>")  # on Llama 3.1's turns
