"""Tencent Hunyuan (Hy3) tool calling: GLM-like key/value pairs in tags that carry :opensource.

    <tool_calls:opensource>
    <tool_call:opensource>get_weather<tool_sep:opensource>
    <arg_key:opensource>city</arg_key:opensource>
    <arg_value:opensource>Paris</arg_value:opensource>
    </tool_call:opensource>
    </tool_calls:opensource>

A string value is written raw, every other value as JSON. Reasoning comes inside
<think:opensource>...</think:opensource>. Grammar, parser and writer come from HUNYUAN
(xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

SECTION = "<tool_calls:opensource>"
HUNYUAN = XmlInvoke(section_start=SECTION + "\n", call_open="<tool_call:opensource>",
                    name_end="<tool_sep:opensource>\n",
                    param_open="<arg_key:opensource>", key_end="</arg_key:opensource>\n<arg_value:opensource>",
                    value_end="</arg_value:opensource>\n", call_close="</tool_call:opensource>\n",
                    section_end="</tool_calls:opensource>", reasoning=(("<think:opensource>", "</think:opensource>"),))


@register
class HunyuanFormat(XmlInvokeFormat):
    name = "hunyuan"
    description = HUNYUAN
    template_markers = ("<tool_calls{}>", "<arg_key{}>", ":opensource")  # the template builds its tags with format()
