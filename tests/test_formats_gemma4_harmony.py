"""Gemma 4 and gpt-oss (harmony): what write() produces parses back to the same calls for
every split of the text, reasoning goes to reasoning, and the templates' own layouts read."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from fixtures.parsing import read_calls, split
from localcall.formats import get_format
from localcall.vocab import SpecialTokens

GEMMA = get_format("gemma4")
HARMONY = get_format("harmony")

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20).filter(lambda t: '<|"|>' not in t)
scalars = st.one_of(texts, st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=3)),
    max_leaves=8)
arguments = st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), values, max_size=4)
calls = st.lists(st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), arguments), min_size=1, max_size=3)


def read(fmt, pieces):
    return read_calls(fmt, pieces)


@settings(max_examples=80, deadline=None)
@given(calls=calls, cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_gemma4_parse_of_write_is_the_calls_for_every_split(calls, cuts):
    assert read(GEMMA, split(GEMMA.write(calls, SpecialTokens(bos_id=None, eos_id=None)), cuts))[0] == calls


def test_gemma4_reasoning_channel_and_the_templates_layout():
    text = '<|channel>thought\nThe user asks.<channel|><|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:2}<tool_call|>'
    assert read(GEMMA, list(text)) == ([("get_weather", {"city": "Paris", "days": 2})], "The user asks.")


HARMONY_CALL = "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>"


def test_harmony_analysis_then_a_call_for_every_split():
    text = "<|channel|>analysis<|message|>Look it up.<|end|><|start|>assistant" + HARMONY_CALL
    for cut in range(len(text) + 1):
        assert read(HARMONY, [text[:cut], text[cut:]]) == ([("get_weather", {"city": "Paris"})], "Look it up.")


def test_harmony_reads_the_templates_own_order_and_a_final_answer():
    template_order = '<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{"timezone": "UTC"}<|call|>'
    assert read(HARMONY, [template_order])[0] == [("get_time", {"timezone": "UTC"})]
    parser = HARMONY.parser([])
    events = parser.feed("<|channel|>final<|message|>It is sunny.<|return|>") + parser.finish()
    assert "".join(getattr(e, "text", "") for e in events) == "It is sunny."
