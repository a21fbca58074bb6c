"""Llama 3.1 / 3.2 / 3.3 JSON tool calling.

Prompt: the system turn says "Environment: ipython"; the tools, as JSON, open the first user
message, which asks for an answer of the form {"name": NAME, "parameters": {...}}. An
assistant turn with calls holds that object (several are joined by "; "); results come back
in the `ipython` role. A call may also be written after <|python_tag|>, the token that opens
Llama's built-in tool calls; a message that waits for a tool result may end with <|eom_id|>
instead of <|eot_id|>, so the backend must stop on both.

Grammar, parser and writer come from SYNTAX (described.py says how it is read). The trigger
is the opening of the JSON object itself, so a call written without <|python_tag|> (what the
template shows the model) is constrained too, and text before it is content. Arguments may
also come under "arguments"; text after the last call is content again. <|python_tag|>
followed by anything but a JSON object (code for Llama's built-in code_interpreter /
brave_search / wolfram_alpha) is malformed: those tools are not offered.
"""

from __future__ import annotations

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .described import DescribedFormat

PYTHON_TAG = "<|python_tag|>"
EOT = "<|eot_id|>"

SYNTAX = CallSyntax(trigger='{"name"', args_key="parameters", separator="; ", section_prefixes=(PYTHON_TAG,),
                    args_aliases=("arguments",))


@register
class Llama3Format(DescribedFormat):
    name = "llama3"
    builtin = "builtin:llama3"
    shapes = (SYNTAX,)

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is None:
            return 10 if EOT in special.by_text and PYTHON_TAG in special.by_text else 0
        if "<|start_header_id|>" not in template:
            return 0  # another turn format (e.g. Hermes 3 on a Llama 3.1 base)
        if "ipython" in template or PYTHON_TAG in template:
            return 20
        # A Llama 3.1+ vocabulary under a template that shows no tools: still the family.
        return 10 if PYTHON_TAG in special.by_text else 0
