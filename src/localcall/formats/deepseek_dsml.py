"""DeepSeek V3.2 / V4 tool calling: DSML, an XML dialect whose tags carry ｜DSML｜.

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

string="true" marks a raw string, string="false" a JSON value. V4 names the section
<｜DSML｜tool_calls>: two families, told apart by the section their template writes.
Reasoning comes inside <think>...</think>. Grammar, parser and writer come from the
description (xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

DSML = "｜DSML｜"


def dsml(section: str) -> XmlInvoke:
    return XmlInvoke(section_start=f"<{DSML}{section}>\n", call_open=f'<{DSML}invoke name="', name_end='">\n',
                     param_open=f'<{DSML}parameter name="', key_end='" string="true">',
                     json_key_end='" string="false">',
                     value_end=f"</{DSML}parameter>\n", call_close=f"</{DSML}invoke>\n",
                     section_end=f"</{DSML}{section}>", reasoning=(("<think>", "</think>"),))


@register
class DeepseekV32Format(XmlInvokeFormat):
    name = "deepseek_v32"
    description = dsml("function_calls")
    template_markers = (DSML, "function_calls>")  # the template builds its tags: '<' + dsml_token + 'function_calls>'


@register
class DeepseekV4Format(XmlInvokeFormat):
    name = "deepseek_v4"
    description = dsml("tool_calls")
    template_markers = (DSML, "'tool_calls>")
