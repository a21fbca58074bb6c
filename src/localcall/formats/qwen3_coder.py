"""Qwen3-Coder / Qwen 3.5 tool calling: one XML block per argument.

Prompt (ChatML): the template lists the tools and shows calls as

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    <parameter=days>
    2
    </parameter>
    </function>
    </tool_call>

A string value is written raw, every other value as JSON. The templates of Qwen3-Coder,
Qwen 3.5, NVIDIA Nemotron 3 Nano and StepFun 3.5 write this syntax; Qwen 3.5 may first think
inside <think>...</think>. Grammar, parser and writer come from XML_PARAMS (xml_params.py).
"""

from __future__ import annotations

from .base import register
from .xml_params import XmlParams, XmlParamsFormat

XML_PARAMS = XmlParams(call_open="<tool_call>\n<function=", name_end=">\n", param_open="<parameter=",
                       key_end=">\n", value_end="\n</parameter>\n", call_close="</function>\n</tool_call>",
                       separator="\n")


@register
class Qwen3CoderFormat(XmlParamsFormat):
    name = "qwen3_coder"
    description = XML_PARAMS
    template_markers = ("<function=", "<parameter=")
