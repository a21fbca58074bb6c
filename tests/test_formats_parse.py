"""Parsing generated text: each family's outcomes, and streaming equal to parsing whole."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from localcall.formats import FORMATS, get_format
from localcall.vocab import SpecialTokens
from localcall.messages import (ContentDelta, MalformedToolCall, ReasoningDelta, ToolCallDelta, ToolCallEnd,
                                ToolCallStart)

ENDED = "the output ended inside a tool call"


@dataclass
class Parsed:
    """What a stream of events adds up to (ids left out: they are fresh each time)."""

    content: str = ""
    reasoning: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)  # finished: (name, arguments)
    unfinished: list[str] = field(default_factory=list)  # names of calls started but never ended
    errors: list[tuple[str, str]] = field(default_factory=list)  # (reason, raw text)


def fold(events) -> tuple[Parsed, list[str]]:
    """The result, and the ids the calls got; checks the event order on the way."""
    out, started, args, ended, ids = Parsed(), {}, {}, set(), []
    for event in events:
        if isinstance(event, ContentDelta):
            assert event.text, "empty content delta"
            out.content += event.text
        elif isinstance(event, ReasoningDelta):
            out.reasoning += event.text
        elif isinstance(event, ToolCallStart):
            assert event.index == len(started), "calls are indexed 0, 1, 2... in order"
            started[event.index], args[event.index] = event.name, ""
            ids.append(event.id)
        elif isinstance(event, ToolCallDelta):
            assert event.index in started and event.index not in ended
            args[event.index] += event.arguments
        elif isinstance(event, ToolCallEnd):
            ended.add(event.index)
            json.loads(args[event.index])  # an ended call's arguments always parse
            out.calls.append((started[event.index], args[event.index]))
        elif isinstance(event, MalformedToolCall):
            out.errors.append((event.reason, event.text))
    out.unfinished = [started[i] for i in sorted(started) if i not in ended]
    return out, ids


def parse(family: str, pieces) -> Parsed:
    parser = get_format(family).parser([])
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
    return fold(events)[0]


def parse_ways(family: str, text: str) -> Parsed:
    """Parse whole, and one character at a time; both must agree."""
    whole = parse(family, [text])
    assert parse(family, list(text)) == whole
    return whole


WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"city": "Paris", "tz": "CET"}')

CASES = {
    "hermes": [
        ("Hello there.", Parsed(content="Hello there.")),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', Parsed(calls=[WEATHER])),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n'
         '{"name": "get_time", "arguments": {"city": "Paris", "tz": "CET"}}\n</tool_call>', Parsed(calls=[WEATHER, TIME])),
        ('Let me check.\n<tool_call>\n{"arguments": {"city": "Paris"}, "name": "get_weather"}\n</tool_call>',
         Parsed(content="Let me check.\n", calls=[WEATHER])),
        ("<think>\nThe user wants weather.\n</think>\n\n"
         '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
         Parsed(reasoning="\nThe user wants weather.\n", calls=[WEATHER])),
        ("<think>Maybe <tool_call> is not needed</think>\n\nIt is sunny.",
         Parsed(reasoning="Maybe <tool_call> is not needed", content="It is sunny.")),
        ("<think>Still thinking when the tokens ran o", Parsed(reasoning="Still thinking when the tokens ran o")),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par',
         Parsed(unfinished=["get_weather"],
                errors=[(ENDED, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par')])),
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n',
         Parsed(calls=[WEATHER])),  # only the closing tag was left: forgiven
        ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_cal> and more',
         Parsed(unfinished=["get_weather"], errors=[("expected '</tool_call>'", '<tool_call>\n{"name": "get_weather", '
                                                     '"arguments": {"city": "Paris"}}\n</tool_cal> and more')])),
        ('<tool_call>\n{"name": "get_weather", "arguments": ["Paris"]}\n</tool_call>',
         Parsed(unfinished=["get_weather"], errors=[("the arguments are not a JSON object", '<tool_call>\n{"name": '
                                                     '"get_weather", "arguments": ["Paris"]}\n</tool_call>')])),
        ('<tool_call>\n{"arguments": {}}\n</tool_call>',
         Parsed(errors=[("the tool call has no name", '<tool_call>\n{"arguments": {}}\n</tool_call>')])),
        ('<tool_call>\n{"name": "now"}\n</tool_call>', Parsed(calls=[("now", "{}")])),
        ('<tool_call>\n{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}\n</tool_call>',
         Parsed(calls=[WEATHER])),  # arguments written as a JSON string holding the object
        ("a < b and <tool", Parsed(content="a < b and <tool")),
    ],
    "llama3": [
        ("Paris is in France.", Parsed(content="Paris is in France.")),
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}', Parsed(calls=[WEATHER])),
        ('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', Parsed(calls=[WEATHER])),
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}; '
         '{"name": "get_time", "arguments": {"city": "Paris", "tz": "CET"}}', Parsed(calls=[WEATHER, TIME])),
        ('I will look it up. {"name": "get_weather", "parameters": {"city": "Paris"}}',
         Parsed(content="I will look it up. ", calls=[WEATHER])),
        ('<|python_tag|>brave_search.call(query="Paris weather")',
         Parsed(errors=[("expected a tool call after '<|python_tag|>'",
                         '<|python_tag|>brave_search.call(query="Paris weather")')])),
        ('{"name": "get_weather", "parameters": {"city": "Paris"', Parsed(
            unfinished=["get_weather"], errors=[(ENDED, '{"name": "get_weather", "parameters": {"city": "Paris"')])),
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}; ',
         Parsed(calls=[WEATHER], errors=[(ENDED, '{"name": "get_weather", "parameters": {"city": "Paris"}}; ')])),
        ('Use {"city": "Paris"} as input.', Parsed(content='Use {"city": "Paris"} as input.')),
    ],
    "mistral": [
        ("Bonjour !", Parsed(content="Bonjour !")),
        ('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]', Parsed(calls=[WEATHER])),
        ('[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}, '
         '{"name": "get_time", "arguments": {"city": "Paris", "tz": "CET"}, "id": "f5G6h7I8j"}]',
         Parsed(calls=[WEATHER, TIME])),
        ('[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', Parsed(calls=[WEATHER])),
        ('[THINK]No [TOOL_CALLS] here.[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}',
         Parsed(reasoning="No [TOOL_CALLS] here.", calls=[WEATHER])),
        ('Checking.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[CALL_ID]a1B2c3D4e[ARGS]'
         '{"city": "Paris", "tz": "CET"}', Parsed(content="Checking.", calls=[WEATHER, TIME])),
        ('[TOOL_CALLS]get_weather[ARGS]{"city": "Par',
         Parsed(unfinished=["get_weather"], errors=[(ENDED, '[TOOL_CALLS]get_weather[ARGS]{"city": "Par')])),
        ("[TOOL_CALLS]get_wea", Parsed(errors=[(ENDED, "[TOOL_CALLS]get_wea")])),
        ("[TOOL_CALLS]I think the weather[ARGS]{}",
         Parsed(errors=[("the text before [ARGS] is not a tool name", "[TOOL_CALLS]I think the weather[ARGS]{}")])),
        ('[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}} {"name": "x"}]',
         Parsed(calls=[WEATHER], errors=[("expected ',' or ']' between tool calls", '[TOOL_CALLS][{"name": '
                                          '"get_weather", "arguments": {"city": "Paris"}} {"name": "x"}]')])),
    ],
    "generic": [
        ('{"response": "It is sunny in Paris."}', Parsed(content="It is sunny in Paris.")),
        ('{"response": "Line one\\nLine \\"two\\" \\u00e9\\ud83d\\ude00"}',
         Parsed(content='Line one\nLine "two" é😀')),
        ('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}', Parsed(calls=[WEATHER])),
        ('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
         '{"name": "get_time", "arguments": {"city": "Paris", "tz": "CET"}}]}', Parsed(calls=[WEATHER, TIME])),
        ("Just text, no JSON.", Parsed(content="Just text, no JSON.")),
        ('  {"answer": 42}', Parsed(content='  {"answer": 42}')),
        ('{"response": "cut off by max_tok', Parsed(content="cut off by max_tok")),
        ('{"tool_calls": [{"name": "get_weather", "arguments": {"ci',
         Parsed(unfinished=["get_weather"],
                errors=[(ENDED, '{"tool_calls": [{"name": "get_weather", "arguments": {"ci')])),
        ('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]',
         Parsed(calls=[WEATHER])),  # only the closing brace was left
        ('{"response": "Done."} Anything else?', Parsed(content="Done.Anything else?")),
    ],
}


@pytest.mark.parametrize("family, text, expected",
                         [(family, text, expected) for family, cases in CASES.items() for text, expected in cases])
def test_parser_outcome(family, text, expected):
    assert parse_ways(family, text) == expected


def test_calls_get_distinct_ids_in_the_familys_style():
    for family in FORMATS:
        fmt = get_format(family)
        text = fmt.write([("get_weather", {"city": "Paris"}), ("get_time", {})], SpecialTokens(bos_id=None, eos_id=None))
        parser = fmt.parser([])
        _, ids = fold(parser.feed(text) + parser.finish())
        assert len(ids) == len(set(ids)) == 2
        pattern = r"[A-Za-z0-9]{9}" if family == "mistral" else r"call_[A-Za-z0-9]{24}"
        assert all(re.fullmatch(pattern, i) for i in ids), ids


def test_only_a_possible_marker_is_held_back():
    parser = get_format("hermes").parser([])
    assert parser.feed("Sure, <tool") == [ContentDelta("Sure, ")]
    assert parser.feed("box> ok") == [ContentDelta("<toolbox> ok")]
    parser = get_format("mistral").parser([])
    assert parser.feed("x [TOOL_") == [ContentDelta("x ")]


def test_arguments_stream_before_the_call_ends():
    parser = get_format("hermes").parser([])
    events = parser.feed('<tool_call>\n{"name": "get_weather", "arguments": {"ci')
    assert [type(e) for e in events] == [ToolCallStart, ToolCallDelta]
    assert events[1].arguments == '{"ci'
    assert parser.feed('ty": "Paris"}}\n</tool_call>') == [ToolCallDelta(0, 'ty": "Paris"}'), ToolCallEnd(0)]


# --- streaming equals parsing whole ---------------------------------------------------------------

def splits(text: str):
    """Strategy: `text` cut at any set of positions."""
    return st.lists(st.integers(0, len(text)), max_size=12).map(
        lambda cuts: [text[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(text)])])


NAMES = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=6)
ARGUMENTS = st.dictionaries(st.text(max_size=6), VALUES, max_size=3)
PROSE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


ASCII_JSON = {"hermes": True, "llama3": True, "mistral": False, "generic": False}  # both spellings occur


def write_calls(family: str, calls: list[tuple[str, dict]]) -> str:
    """Calls written the way each family's model writes them."""
    def dumps(value):
        return json.dumps(value, ensure_ascii=ASCII_JSON[family])

    if family == "hermes":
        return "\n".join(f'<tool_call>\n{dumps({"name": n, "arguments": a})}\n</tool_call>' for n, a in calls)
    if family == "llama3":
        return "<|python_tag|>" + "; ".join(dumps({"name": n, "parameters": a}) for n, a in calls)
    if family == "mistral":
        return "".join(f"[TOOL_CALLS]{n}[ARGS]{dumps(a)}" for n, a in calls)
    return dumps({"tool_calls": [{"name": n, "arguments": a} for n, a in calls]})


MARKERS = {"hermes": ("<tool_call>", "<think>"), "llama3": ("<|python_tag|>", '{"name"'),
           "mistral": ("[TOOL_CALLS]",), "generic": ()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(sorted(MARKERS)), prose=PROSE,  # the JSON families; all: test_formats_properties
       calls=st.lists(st.tuples(NAMES, ARGUMENTS), min_size=1, max_size=3), data=st.data())
def test_written_calls_parse_back_whole_and_streamed(family, prose, calls, data):
    if family == "generic":
        prose = ""  # the generic answer is one JSON object, nothing before it
    assume(not any(m in prose for m in MARKERS[family]))
    text = prose + write_calls(family, calls)
    expected = Parsed(content=prose, calls=[(n, json.dumps(a, ensure_ascii=ASCII_JSON[family])) for n, a in calls])
    assert parse(family, [text]) == expected
    assert parse(family, data.draw(splits(text))) == expected


# Pieces of every family's syntax, shuffled into mostly broken outputs.
FRAGMENTS = ["<tool_call>", "</tool_call>", "<think>", "</think>", "[THINK]", "[/THINK]", "<|python_tag|>", '{"name"', "[TOOL_CALLS]",
             "[ARGS]", "[CALL_ID]", '{"response"', '{"tool_calls"', "{", "}", "[", "]", '"', ":", ",", ";", " ",
             "\n", "\\", "\\u00e9", "\\ud83d", "\\ude00", '"name"', '"arguments"', '"parameters"', '"f"', "x",
             "é", "<", "<tool", "[TOOL"]


@settings(max_examples=300, deadline=None)
@given(family=st.sampled_from(sorted(FORMATS)), data=st.data(),
       text=st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
def test_any_split_of_any_output_parses_like_the_whole(family, text, data):
    assert parse(family, data.draw(splits(text))) == parse(family, [text])
