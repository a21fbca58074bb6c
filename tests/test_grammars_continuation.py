"""Another call or the end (grammars/continuation.py): where a JSON call list goes on or ends,
and, on the real default model, a bias toward another call that makes the second call a
two-part request asks for, while a one-part request keeps its one call."""

from __future__ import annotations

import pytest

from localcall.formats.base import CallSyntax
from localcall.grammars.continuation import JsonState, json_list_section, scan
from localcall.messages import ToolSpec


@pytest.mark.parametrize("written, token, event", [
    ('{"name": "f", "arguments": {"a": 1}', b"}", None),       # the call closes: no decision yet
    ('{"name": "f", "arguments": {"a": 1}', b"},", "more"),
    ('{"name": "f", "arguments": {"a": 1}', b"}]", "end"),
    ('{"name": "f", "arguments": {"a": 1}}', b", ", "more"),
    ('{"name": "f", "arguments": {"a": 1}}', b"]}", "end"),
    ('{"name": "f", "arguments": {"a": [1', b"],", None),        # a list inside the arguments
    ('{"name": "f", "arguments": {"a": "x', b'],"', None),       # text inside a string
    ('{"name": "f", "arguments": {"a": "x\\', b'"]', None),      # an escaped quote
])
def test_the_scan_finds_the_lists_own_comma_and_end(written, token, event):
    state, _ = scan(JsonState(), written.encode())
    assert scan(state, token)[1] == event


def test_only_json_list_sections_have_the_decision():
    generic = CallSyntax(trigger="", section_start='{"tool_calls": [', separator=", ", section_end="]}")
    tagged = CallSyntax(trigger="<tool_call>", section_start="", call_start="<tool_call>\n", call_end="\n</tool_call>",
                        separator="\n")
    assert json_list_section(generic) and not json_list_section(tagged)


WEATHER = ToolSpec("get_weather", "The current weather in a city.", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}).to_openai()
GREEDY = {"tool_choice": "required", "temperature": 0.0, "max_tokens": 96}


def _calls(model, question: str, bias: float):
    result = model.chat([{"role": "user", "content": question}], tools=[WEATHER], more_calls_bias=bias, **GREEDY)
    return [c.arguments for c in result.tool_calls]


def test_the_bias_makes_the_second_call_of_a_two_part_request(default_model):
    two = "What is the weather in Paris and in Tokyo?"
    assert _calls(default_model, two, 0.0) == ['{"city": "Paris"}']  # the model closes after one
    assert _calls(default_model, two, 3.0) == ['{"city": "Paris"}', '{"city": "Tokyo"}']


def test_a_one_part_request_keeps_one_call(default_model):
    # The call the bias brings repeats the first: the repeat guard drops it and ends there.
    assert _calls(default_model, "What is the weather in Paris?", 3.0) == ['{"city": "Paris"}']
