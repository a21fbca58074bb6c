"""MiniMax M2 tool calling: <invoke> elements inside <minimax:tool_call>.

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    <parameter name="days">2</parameter>
    </invoke>
    </minimax:tool_call>

A string value is written raw, every other value as JSON. Reasoning comes inside
<think>...</think>. Grammar, parser and writer come from MINIMAX_M2 (xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

MINIMAX_M2 = XmlInvoke(section_start="<minimax:tool_call>\n", call_open='<invoke name="', name_end='">\n',
                       param_open='<parameter name="', key_end='">', value_end="</parameter>\n",
                       call_close="</invoke>\n", section_end="</minimax:tool_call>",
                       reasoning=(("<think>", "</think>"),))


@register
class MinimaxM2Format(XmlInvokeFormat):
    name = "minimax_m2"
    description = MINIMAX_M2
    template_markers = ("<minimax:tool_call>", "<invoke name=")
