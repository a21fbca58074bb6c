"""DeepSeek R1 (and V3) tool calling: a section of calls, each a name and a ```json block.

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
    ```json
    {"city": "Paris"}
    ```<｜tool▁call▁end｜><｜tool▁calls▁end｜>

Calls are joined by a newline. Reasoning comes inside <think>...</think>. Grammar, parser and
writer come from DEEPSEEK_R1 (named_calls.py).
"""

from __future__ import annotations

from .base import register
from .named_calls import NamedCalls, NamedCallsFormat

SECTION_BEGIN = "<｜tool▁calls▁begin｜>"
DEEPSEEK_R1 = NamedCalls(section_start=SECTION_BEGIN, call_start="<｜tool▁call▁begin｜>function<｜tool▁sep｜>",
                         args_marker="\n```json\n", call_end="\n```<｜tool▁call▁end｜>", separator="\n",
                         section_end="<｜tool▁calls▁end｜>", reasoning=(("<think>", "</think>"),))


@register
class DeepseekR1Format(NamedCallsFormat):
    name = "deepseek_r1"
    description = DEEPSEEK_R1
    template_markers = (SECTION_BEGIN,)
