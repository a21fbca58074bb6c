"""Every family, from its one description: the text write() gives for some calls is text the
grammar accepts (llguidance, over a byte vocabulary), and the family's parser reads it back as
the same calls, however the text is split into pieces."""

from __future__ import annotations

import llguidance
import pytest
from hypothesis import given, settings, strategies as st

from fixtures.parsing import read_calls, split
from localcall.formats import FORMATS, get_format
from localcall.grammars.llguidance_engine import to_lark
from localcall.grammars.spec import build_tool_grammar
from localcall.messages import ToolChoice, ToolSpec
from localcall.vocab import SpecialTokens

TOOLS = [ToolSpec.from_openai({"type": "function", "function": {"name": "note", "parameters": {
    "type": "object", "properties": {"text": {"type": "string"}, "count": {"type": "integer"},
                                     "ok": {"type": "boolean"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["text"]}}}),
    ToolSpec.from_openai({"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}}, "required": ["city"]}}}),
    # A nested model as pydantic writes it: the argument is a reference into $defs.
    ToolSpec.from_openai({"type": "function", "function": {"name": "order", "parameters": {
        "type": "object", "properties": {"ship_to": {"$ref": "#/$defs/Address"}}, "required": ["ship_to"],
        "$defs": {"Address": {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "integer"}},
                              "required": ["street", "zip"]}}}}})]
# Vocabulary variants where a family's syntax depends on them (Mistral's [ARGS] name form,
# harmony's <|constrain|>). Control tokens are matched as text here: the byte vocabulary has none.
VARIANTS = {"": {}, "mistral+args": {"[ARGS]": 1}, "harmony+constrain": {"<|constrain|>": 1}}
CASES = [(name, variant) for name in sorted(FORMATS) for variant in VARIANTS
         if not variant or variant.split("+")[0] == name]

# Text values without markup characters and without framing whitespace: the families differ
# in how they escape, which their own parser tests cover.
text = st.text(st.characters(whitelist_categories=("L", "N", "Zs"), max_codepoint=0x2FFF), min_size=1,
               max_size=16).map(str.strip).filter(bool)
note = st.fixed_dictionaries({"text": text}, optional={"count": st.integers(-999, 999), "ok": st.booleans(),
                                                       "tags": st.lists(text, max_size=2)})
weather = st.fixed_dictionaries({"city": st.sampled_from(["Paris", "Oslo"])})
# street before zip: the schema's order and the sorted one, which the grammars enforce.
order = st.builds(lambda street, zip_code: {"ship_to": {"street": street, "zip": zip_code}}, text, st.integers(0, 99999))
calls = st.lists(st.one_of(st.tuples(st.just("note"), note), st.tuples(st.just("get_weather"), weather),
                           st.tuples(st.just("order"), order)), min_size=1, max_size=3)
BYTES = llguidance.LLTokenizer("byte")


def special(variant: str) -> SpecialTokens:
    return SpecialTokens(bos_id=None, eos_id=None, by_text=dict(VARIANTS[variant]))


def canonical(calls, fmt):
    """Gemma writes keys sorted, and the XML families in the schema's order: the grammar
    admits only that order, so the calls are compared in it."""
    syntax = fmt.call_syntax(SpecialTokens(bos_id=None, eos_id=None))
    out = []
    for name, arguments in calls:
        keys = sorted(arguments) if syntax.body == "gemma" else [
            k for k in next(t for t in TOOLS if t.name == name).parameters["properties"] if k in arguments]
        out.append((name, {k: arguments[k] for k in keys}))
    return out


@pytest.mark.parametrize("family, variant", CASES)
@settings(max_examples=40, deadline=None)
@given(calls=calls, cuts=st.lists(st.integers(0, 600), max_size=5))
def test_write_is_what_the_grammar_admits_and_the_parser_reads(family, variant, calls, cuts):
    fmt, tokens = get_format(family), special(variant)
    calls = canonical(calls, fmt)
    text = fmt.write(calls, tokens)
    assert read_calls(fmt, split(text, cuts), TOOLS)[0] == calls
    grammar = build_tool_grammar(fmt.call_syntax(tokens), TOOLS, ToolChoice.parse("required"), parallel=True,
                                 special=tokens, control_ids=frozenset())
    matcher = llguidance.LLMatcher(BYTES, llguidance.grammar_from("lark", to_lark(grammar)), log_level=0)
    assert matcher.consume_tokens(list(text.encode())) and matcher.is_accepting(), (text, matcher.get_error())
