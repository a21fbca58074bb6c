"""DeepSeek V3.2 / V4 tool calling: DSML, an XML dialect whose tags carry ｜DSML｜.

    <｜DSML｜function_calls>
    <｜DSML｜invoke name="get_weather">
    <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
    <｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

string="true" marks a raw string, string="false" a JSON value. V4 names the section
<｜DSML｜tool_calls>: the model's template decides which.
Reasoning comes inside <think>...</think>. Grammar, parser and writer come from the
description (xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

DSML = "｜DSML｜"
V32_SECTION, V4_SECTION = "function_calls", "tool_calls"


def dsml(section: str) -> XmlInvoke:
    return XmlInvoke(section_start=f"<{DSML}{section}>\n", call_open=f'<{DSML}invoke name="', name_end='">\n',
                     param_open=f'<{DSML}parameter name="', key_end='" string="true">',
                     json_key_end='" string="false">',
                     value_end=f"</{DSML}parameter>\n", call_close=f"</{DSML}invoke>\n",
                     section_end=f"</{DSML}{section}>", reasoning=(("<think>", "</think>"),))


@register
class DeepseekDsmlFormat(XmlInvokeFormat):
    name = "deepseek_dsml"
    template_markers = (DSML, "invoke name=")

    @property
    def description(self) -> XmlInvoke:
        # The template builds its tags ('<' + dsml_token + 'tool_calls>'): V4's names the section
        # tool_calls, V3.2's (and a model without a template) function_calls.
        v4 = self.model_template is not None and "'tool_calls>" in self.model_template
        return dsml(V4_SECTION if v4 else V32_SECTION)
