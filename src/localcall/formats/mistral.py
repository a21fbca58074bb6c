"""Mistral tool calling, in both of its output forms.

Prompt: the tools, as a JSON list, go inside [AVAILABLE_TOOLS]...[/AVAILABLE_TOOLS] next to
a user message; results come back inside [TOOL_RESULTS]...[/TOOL_RESULTS]. Calls follow the
[TOOL_CALLS] control token, in one of two forms, chosen by the vocabulary:
- array form (tokenizer v3 / v7: Mistral 7B v0.3, Nemo, Small up to 2503):
      [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]
- name form, when the vocabulary has [ARGS] (tokenizer v11+: Small 3.2, Magistral, Devstral):
      [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]other[ARGS]{...}
Mistral's templates refuse call ids that are not exactly 9 letters and digits, so ids from
other servers are mapped to such ids, the same way in the call and in its result.

Parser outcomes (besides those of every parser, see stream.py):
- Either form is read whatever the vocabulary; a lone {"name", "arguments"} object after
  [TOOL_CALLS] is read too. An "id" the model writes is ignored: ids are always fresh.
- In the name form, v11's [CALL_ID]id between the name and [ARGS] is skipped; a name that
  is not a plain identifier, or no [ARGS] within 256 characters, is malformed.
- [THINK]...[/THINK] (Magistral, Ministral 3) is ReasoningDelta; [TOOL_CALLS] inside it is not a call.
"""

from __future__ import annotations

import hashlib
import re
import string

from ..messages import Message, ToolSpec
from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .stream import Malformed, StreamParser
from .templated import TemplateFormat

TOOL_CALLS, ARGS, CALL_ID = "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"
THINK, THINK_END = "[THINK]", "[/THINK]"
MAX_NAME = 256
_NAME = re.compile(r"[\w.\-]+")
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


class MistralParser(StreamParser):
    id_style = "mistral"

    def parse(self):
        while True:
            marker = yield from self.text_until((TOOL_CALLS, THINK), self.content)
            if marker is None:
                return
            if marker == THINK:  # Magistral / Ministral 3 reasoning: never a call
                yield from self.expect(THINK)
                if (yield from self.text_until((THINK_END,), self.reasoning)) is None:
                    return
                yield from self.expect(THINK_END)
                continue
            self.open_section()
            yield from self.expect(TOOL_CALLS)
            first = yield from self.skip_space()
            if first == "[":
                yield from self.call_list()
            elif first == "{":
                yield from self.call_object()
                self.end_call()
            else:
                yield from self.named_call()
            self.close_section()
            yield from self.skip_space()

    def named_call(self):
        head = yield from self.read_until(ARGS, MAX_NAME)
        name = head.split(CALL_ID)[0].strip()
        if not _NAME.fullmatch(name):
            raise Malformed("the text before [ARGS] is not a tool name")
        self.start_call(name)
        if (yield from self.skip_space()) is None:
            raise Malformed("the output ended before the arguments")
        yield from self.arguments(self.argument)
        self.end_call()


@register
class MistralFormat(TemplateFormat):
    name = "mistral"
    call_id_style = "mistral"

    def builtin_name(self, special: SpecialTokens) -> str:
        return "builtin:mistral-args" if ARGS in special.by_text else "builtin:mistral"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        if ARGS in special.by_text:
            return CallSyntax(trigger=TOOL_CALLS, call_start=TOOL_CALLS, body="name_args", args_marker=ARGS)
        # No space after [TOOL_CALLS]: the space SentencePiece vocabularies show there is the
        # tokenizer's word prefix, not text the model was trained to write.
        return CallSyntax(trigger=TOOL_CALLS, section_start=TOOL_CALLS + "[", separator=", ", section_end="]")

    def parser(self, tools) -> MistralParser:
        return MistralParser()

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
