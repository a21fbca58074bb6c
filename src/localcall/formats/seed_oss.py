"""ByteDance Seed-OSS tool calling: Qwen3-Coder's XML parameters inside <seed:tool_call>.

    <seed:tool_call>
    <function=get_weather>
    <parameter=city>Paris</parameter>
    <parameter=days>2</parameter>
    </function>
    </seed:tool_call>

Each call has its own <seed:tool_call>; calls are joined by a newline. A string value is
written raw (without the newlines Qwen3-Coder puts around it), every other value as JSON.
Reasoning comes inside <seed:think>...</seed:think>. Grammar, parser and writer come from
SEED_OSS (xml_invoke.py).
"""

from __future__ import annotations

from .base import register
from .xml_invoke import XmlInvoke, XmlInvokeFormat

TOOL_CALL = "<seed:tool_call>"
SEED_OSS = XmlInvoke(call_open=TOOL_CALL + "\n<function=", name_end=">\n", param_open="<parameter=", key_end=">",
                     value_end="</parameter>\n", call_close="</function>\n</seed:tool_call>", separator="\n",
                     reasoning=(("<seed:think>", "</seed:think>"),))


@register
class SeedOssFormat(XmlInvokeFormat):
    name = "seed_oss"
    description = SEED_OSS
    template_markers = (TOOL_CALL, "<function=")
    score = 40  # its template writes Qwen3-Coder's markers too, inside its own
