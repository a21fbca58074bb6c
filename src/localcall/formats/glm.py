"""GLM 4.5-4.7 tool calling (and the templates that copied it: Spark 2.5, Ling 3.0, Laguna):
key/value pairs inside <tool_call>.

    <tool_call>get_weather
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    <arg_key>days</arg_key>
    <arg_value>2</arg_value>
    </tool_call>

A string value is written raw, every other value as JSON. Templates differ in layout: GLM 4.6
puts each marker on its own line, GLM 4.7 writes them without newlines, so the grammar leaves
every newline to the model. Reasoning comes inside <think>...</think>. Grammar, parser and
writer come from GLM (xml_params.py).
"""

from __future__ import annotations

from .base import register
from .xml_params import XmlParams, XmlParamsFormat

GLM = XmlParams(call_open="<tool_call>", name_end="\n", param_open="<arg_key>", key_end="</arg_key>\n<arg_value>",
                value_end="</arg_value>\n", call_close="</tool_call>", separator="\n", optional_newlines=True)


@register
class GlmFormat(XmlParamsFormat):
    name = "glm"
    description = GLM
    template_markers = ("<arg_key>", "<arg_value>")
