"""FunctionGemma tool calling (Gemma 3 270M trained for function calling): Gemma 4's value
syntax between FunctionGemma's own control tokens, as Google's formatting guide documents it.

    <start_function_call>call:get_weather{city:<escape>Paris<escape>,days:2}<end_function_call>

Strings go between <escape> tokens; keys are bare and sorted; other values as in JSON. Tools
are declared in a developer turn (<start_function_declaration>declaration:NAME{...}), and a
result follows the call inside the model's own turn
(<start_function_response>response:NAME{...}<end_function_response>), after which the model
answers. The builtin template (templates/functiongemma.jinja, written from the guide) renders
this for models whose file carries no template that shows tools.

Parser outcomes: as Gemma4Parser's (gemma4.py), with these markers; a result the model starts
to write itself (<start_function_response>) ends its output.
"""

from __future__ import annotations

from ..vocab import SpecialTokens
from .base import CallSyntax, register
from .gemma4 import CALL_PREFIX, Gemma4Parser
from .templated import TemplateFormat

START_CALL, END_CALL, ESCAPE = "<start_function_call>", "<end_function_call>", "<escape>"
START_RESPONSE = "<start_function_response>"


class FunctionGemmaParser(Gemma4Parser):
    call_open, call_close, quote = START_CALL, END_CALL, ESCAPE
    stop = START_RESPONSE


@register
class FunctionGemmaFormat(TemplateFormat):
    name = "functiongemma"
    builtin = "builtin:functiongemma"

    def call_syntax(self, special: SpecialTokens) -> CallSyntax:
        return CallSyntax(trigger=START_CALL, call_start=START_CALL + CALL_PREFIX, body="gemma", call_end=END_CALL,
                          string_quote=ESCAPE)

    def parser(self, tools) -> FunctionGemmaParser:
        return FunctionGemmaParser()

    @classmethod
    def detect(cls, template: str | None, special: SpecialTokens) -> int:
        if template is not None and START_CALL in template:
            return 30
        # A FunctionGemma vocabulary, under no template or one that shows no tools.
        # Above Gemma 4's 10: a vocabulary with these tokens is FunctionGemma's even if it has Gemma 4's too.
        return 15 if START_CALL in special.by_text and ESCAPE in special.by_text else 0
