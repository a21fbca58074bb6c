"""The XML-parameter families (Qwen3-Coder / Qwen 3.5, GLM): one description gives the writer
and the parser, so whatever write() produces parses back to the same calls, split anywhere,
in every layout the family's templates use."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from fixtures.parsing import read_calls, split
from localcall.formats import get_format
from localcall.grammars.schema import SchemaError
from localcall.grammars.spec import build_tool_grammar
from localcall.messages import ToolChoice, ToolSpec
from localcall.vocab import SpecialTokens

NO_SPECIAL = SpecialTokens(bos_id=None, eos_id=None)

FORMAT = get_format("qwen3_coder")
GLM = get_format("glm")
# GLM 4.7 / Spark / Laguna S write GLM's markers without newlines.
GLM_COMPACT = replace(GLM.description, name_end="", key_end="</arg_key><arg_value>", value_end="</arg_value>",
                      separator="")
LAYOUTS = {"qwen3_coder": (FORMAT, FORMAT.description), "glm": (GLM, GLM.description),
           "glm-compact": (GLM, GLM_COMPACT)}
TOOLS = [ToolSpec.from_openai({"type": "function", "function": {"name": "note", "parameters": {
    "type": "object", "properties": {"text": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                                     "count": {"type": "integer"}, "ok": {"type": "boolean"}},
    "required": ["text"]}}})]

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).filter(
    lambda t: "</parameter>" not in t and not t.startswith("\n") and not t.endswith("\n"))
arguments = st.fixed_dictionaries({"text": texts}, optional={
    "tags": st.lists(texts, max_size=3), "count": st.integers(-10**6, 10**6), "ok": st.booleans()})
calls = st.lists(st.tuples(st.just("note"), arguments), min_size=1, max_size=3)


def parse(pieces: list[str], fmt=FORMAT):
    return read_calls(fmt, pieces, TOOLS)[0]


@pytest.mark.parametrize("layout", LAYOUTS)
@settings(max_examples=60, deadline=None)
@given(calls=calls, cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_parse_of_write_is_the_calls_for_every_split(layout, calls, cuts):
    fmt, description = LAYOUTS[layout]
    text = description.call_syntax().write(calls)
    assert parse(split(text, cuts), fmt) == calls


def test_reasoning_and_text_around_calls():
    text = "<think>look <tool_call> up</think>Sure." + FORMAT.write([("note", {"text": "a\nb"})], NO_SPECIAL)
    parser = FORMAT.parser(TOOLS)
    events = parser.feed(text) + parser.finish()
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["ReasoningDelta", "ContentDelta"] and "ToolCallEnd" in kinds
    assert parse([text.split("</think>Sure.")[1]]) == [("note", {"text": "a\nb"})]


def test_grammar_refuses_what_it_cannot_enforce_by_name():
    tool = ToolSpec.from_openai({"type": "function", "function": {"name": "find", "parameters": {
        "type": "object", "properties": {"q": {"type": "string", "pattern": "^[a-z]+$"}}}}})
    try:
        build_tool_grammar(FORMAT.call_syntax(None), [tool], ToolChoice.parse("required"), parallel=True,
                           special=SpecialTokens(None, None), control_ids=frozenset())
    except SchemaError as exc:
        assert "find" in str(exc) and "properties/q" in str(exc) and "pattern" in str(exc)
    else:
        raise AssertionError("a pattern on a raw string argument was accepted")
