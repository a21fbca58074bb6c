"""OpenBMB MiniCPM 5 tool calling: <function name=...> elements with one <param> per argument.

    <function name="get_weather"><param name="city">Paris</param><param name="days">2</param></function>

Each call stands alone; calls are joined by a newline. A string value is written raw (in a
<![CDATA[...]]> block when it holds markup or newlines, which the parser takes off), every
other value as JSON. Reasoning comes inside <think>...</think>. Grammar, parser and writer come
from MINICPM (xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

MINICPM = XmlInvoke(call_open='<function name="', name_end='">', param_open='<param name="', key_end='">',
                    value_end="</param>", call_close="</function>", separator="\n",
                    reasoning=(("<think>", "</think>"),))


@register
class MinicpmFormat(XmlInvokeFormat):
    name = "minicpm"
    description = MINICPM
    template_markers = ('<function name="', '<param name="')
