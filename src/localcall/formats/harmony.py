"""gpt-oss tool calling: OpenAI's harmony channels.

After the generation prompt `<|start|>assistant`, the model writes messages of the form
HEADER<|message|>BODY END. The header names a channel (analysis, commentary, final) and,
for a tool call, a recipient:

    <|channel|>analysis<|message|>The user wants the weather.<|end|>
    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>

The gpt-oss template writes the recipient before the channel
(`<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>`); both orders are
read. Results come back as `<|start|>functions.NAME to=assistant<|channel|>commentary...`,
rendered by the template. One call per message; <|call|> ends it.

Parser outcomes (besides those of every parser, see stream.py):
- The analysis channel is ReasoningDelta; final (and commentary without a recipient) is
  content. Headers and end markers are never content.
- A message addressed to functions.NAME is a call of NAME whose body is the arguments JSON.
- The grammar (tool_choice required / named) writes the commentary form with <|constrain|>
  when the vocabulary has that token, else the template's " json". In tool_choice auto the
  grammar allows an analysis message first, then plain text or a call.
"""

from __future__ import annotations

import re

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .stream import ENDED, Malformed, StreamParser
from .templated import TemplateFormat

START, CHANNEL, MESSAGE, CONSTRAIN = "<|start|>", "<|channel|>", "<|message|>", "<|constrain|>"
END, CALL, RETURN = "<|end|>", "<|call|>", "<|return|>"
TO_FUNCTIONS = " to=functions."
ANALYSIS = CHANNEL + "analysis" + MESSAGE
MAX_HEADER = 256
_RECIPIENT = re.compile(r"to=functions\.([\w.\-]+)")
_CHANNEL = re.compile(r"<\|channel\|>\s*(\w+)")


class HarmonyParser(StreamParser):
    def parse(self):
        while True:
            marker = yield from self.text_until((START, CHANNEL, TO_FUNCTIONS), self.content)
            if marker is None:
                return
            if marker == START:  # a new message: its role is the assistant's own
                yield from self.expect(START)
                if (yield from self.text_until((CHANNEL, TO_FUNCTIONS), lambda _: None)) is None:
                    return
            self.open_section()
            header = yield from self.read_until(MESSAGE, MAX_HEADER)
            recipient = _RECIPIENT.search(header)
            if recipient:
                yield from self.call(recipient.group(1))
            else:
                channel = _CHANNEL.search(header)
                self.close_section()
                sink = self.reasoning if channel and channel.group(1) == "analysis" else self.content
                if (yield from self.text_until((END, RETURN, CALL), sink)) is None:
                    return
                yield from self.expect_one((END, RETURN, CALL))

    def call(self, name: str):
        self.start_call(name)
        if (yield from self.skip_space()) is None:
            raise Malformed(ENDED)
        yield from self.arguments(self.argument)
        self.end_call()
        if (yield from self.skip_space()) is not None:
            yield from self.expect_one((CALL, END))
        self.close_section()


@register
class HarmonyFormat(TemplateFormat):
    name = "harmony"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        content_type = f" {CONSTRAIN}json" if CONSTRAIN in special.by_text else " json"
        return CallSyntax(trigger=CHANNEL, call_start=CHANNEL + "commentary to=functions.", body="name_args",
                          args_marker=content_type + MESSAGE, call_end=CALL, separator=START + "assistant",
                          reasoning=((ANALYSIS, END),))

    def parser(self, tools) -> HarmonyParser:
        return HarmonyParser()

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is not None:
            return 30 if CHANNEL in template and CALL in template and "functions." in template else 0
        return 10 if CHANNEL in special.by_text and CALL in special.by_text else 0
