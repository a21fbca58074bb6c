"""Llama 3.1 / 3.2 / 3.3 JSON tool calling.

Prompt: the system turn says "Environment: ipython"; the tools, as JSON, open the first user
message, which asks for an answer of the form {"name": NAME, "parameters": {...}}. An
assistant turn with calls holds that object (several are joined by "; "); results come back
in the `ipython` role. A call may also be written after <|python_tag|>, the token that opens
Llama's built-in tool calls; a message that waits for a tool result may end with <|eom_id|>
instead of <|eot_id|>, so the backend must stop on both.

Parser outcomes (besides those of every parser, see stream.py):
- A call starts at <|python_tag|> or at the text {"name" wherever it appears; text before it
  is content. Arguments come under "parameters" (or "arguments").
- Calls joined by ";" are parallel calls; text after the last call is content again.
- <|python_tag|> followed by anything but a JSON object (code for Llama's built-in
  code_interpreter / brave_search / wolfram_alpha) is malformed: those tools are not offered.
"""

from __future__ import annotations

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .stream import Malformed, StreamParser
from .templated import TemplateFormat

PYTHON_TAG = "<|python_tag|>"
JSON_CALL = '{"name"'
EOT = "<|eot_id|>"


class Llama3Parser(StreamParser):
    args_keys = ("parameters", "arguments")

    def parse(self):
        while True:
            marker = yield from self.text_until((PYTHON_TAG, JSON_CALL), self.content)
            if marker is None:
                return
            self.open_section()
            if marker == PYTHON_TAG:
                yield from self.expect(PYTHON_TAG)
                if (yield from self.skip_space()) not in ("{", None):
                    raise Malformed("<|python_tag|> is followed by code for a built-in tool, not a JSON call")
            yield from self.calls_joined_by_semicolons()
            self.close_section()
            yield from self.skip_space()

    def calls_joined_by_semicolons(self):
        while True:
            yield from self.call_object()
            self.end_call()
            if (yield from self.skip_space()) != ";":
                return
            self.take(1)
            yield from self.skip_space()


@register
class Llama3Format(TemplateFormat):
    name = "llama3"
    builtin = "builtin:llama3"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        # The trigger is the opening of the JSON object itself, so a call written without
        # <|python_tag|> (what the template shows the model) is constrained too.
        return CallSyntax(trigger=JSON_CALL, call_start='{"name": "', body="name_args",
                          args_marker='", "parameters": ', call_end="}", separator="; ")

    def parser(self, tools) -> Llama3Parser:
        return Llama3Parser()

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
