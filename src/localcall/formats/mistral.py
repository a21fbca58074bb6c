"""Mistral tool calling, in its three output shapes.

Prompt: the tools, as a JSON list, go inside [AVAILABLE_TOOLS]...[/AVAILABLE_TOOLS] next to
a user message; results come back inside [TOOL_RESULTS]...[/TOOL_RESULTS]. Calls follow the
[TOOL_CALLS] control token, in one of these shapes:
- array form (tokenizer v3 / v7: Mistral 7B v0.3, Nemo, Small up to 2503):
      [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]
- name form, when the vocabulary has [ARGS] (tokenizer v11+: Small 3.2, Magistral, Devstral):
      [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]other[ARGS]{...}
- the name form with an id, as Small 3.2's template writes past calls (and so the grammar
  asks for it when the model's template writes [CALL_ID], as llama.cpp decides it):
      [TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]{"city": "Paris"}
Mistral's templates refuse call ids that are not exactly 9 letters and digits, so ids from
other servers are mapped to such ids, the same way in the call and in its result.

The grammar and write() use the form the vocabulary and the template pick; the parser reads all of them
whatever the vocabulary (and a lone {"name", "arguments"} object after [TOOL_CALLS]), from the
shapes below (described.py says how). An id the model writes ("id" in the array, [CALL_ID]) is
skipped: ids are always fresh. [THINK]...[/THINK] (Magistral, Ministral 3) is reasoning.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import replace

from ..messages import Message, ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .described import DescribedFormat

TOOL_CALLS, ARGS, CALL_ID = "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHANUMERIC = string.ascii_letters + string.digits


def mistral_call_id(call_id: str) -> str:
    """A 9-alphanumeric id standing for `call_id`: the same id for the same input, always."""
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    digits = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHANUMERIC))
        digits.append(_ALPHANUMERIC[digit])
    return "".join(digits)


THINK = ("[THINK]", "[/THINK]")  # Magistral / Ministral 3 reasoning
# The shapes after [TOOL_CALLS], in the order the parser tries them: its first character picks one.
ARRAY = CallSyntax(trigger=TOOL_CALLS, section_start=TOOL_CALLS + "[", separator=", ", section_end="]", reasoning=(THINK,))
LONE_OBJECT = CallSyntax(trigger=TOOL_CALLS, call_start=TOOL_CALLS, reasoning=(THINK,))
NAMED = CallSyntax(trigger=TOOL_CALLS, call_start=TOOL_CALLS, body="name_args", args_marker=ARGS,
                   call_id_marker=CALL_ID, reasoning=(THINK,))
NAMED_WITH_ID = replace(NAMED, call_id_length=9)  # Mistral's ids: 9 letters and digits


@register
class MistralFormat(DescribedFormat):
    name = "mistral"
    call_id_style = "mistral"
    shapes = (ARRAY, LONE_OBJECT, NAMED)

    def builtin_name(self, special: SpecialTokens) -> str:
        return "builtin:mistral-args" if ARGS in special.by_text else "builtin:mistral"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        # No space after [TOOL_CALLS] in the array: the space SentencePiece vocabularies show
        # there is the tokenizer's word prefix, not text the model was trained to write.
        if ARGS not in special.by_text:
            return ARRAY
        writes_ids = CALL_ID in special.by_text and self.model_template is not None and CALL_ID in self.model_template
        return NAMED_WITH_ID if writes_ids else NAMED

    def adapt(self, messages: list[Message], tools: list[ToolSpec] | None):
        for msg in messages:
            for call in msg.get("tool_calls") or ():
                call["id"] = mistral_call_id(call["id"])
            if msg["role"] == "tool":
                msg["tool_call_id"] = mistral_call_id(msg.get("tool_call_id", ""))
        return super().adapt(messages, tools)

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is None:
            return 10 if TOOL_CALLS in special.by_text else 0
        if "[INST]" not in template:
            return 0
        if TOOL_CALLS in template or "[AVAILABLE_TOOLS]" in template:
            return 20
        # Mistral 7B v0.3 GGUFs often carry a template without tools; the vocabulary knows.
        return 10 if TOOL_CALLS in special.by_text else 0
