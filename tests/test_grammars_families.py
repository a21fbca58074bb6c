"""The guarantee, family by family: tiny random-weight GGUFs of each family (they really load in
llama.cpp and sample garbage freely) must still return tool calls that parse and validate, in
every tool_choice mode, on both engines where the engine can express the mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from localcall.grammars.schema import validate_instance
from localcall.messages import Finished, ToolCallDelta, ToolCallStart
from localcall.model import ChatModel, RequestError

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.tiny_gguf import tiny_gguf_path  # noqa: E402

FAMILIES = ["llama3", "mistral", "mistral-args", "hermes", "generic"]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.", "parameters": {
    "type": "object", "properties": {"location": {"type": "string", "maxLength": 10},
                                     "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["location"]}}}
ORDER = {"type": "function", "function": {"name": "lookup_order", "description": "Find an order.", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "integer"},
                                     "items": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
                                         "sku": {"type": "string", "maxLength": 6}, "qty": {"type": "integer"}},
                                         "required": ["sku", "qty"]}}},
    "required": ["order_id"]}}}
TOOLS = [WEATHER, ORDER]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What's the weather in Tokyo, and where is order 42?"}]


@pytest.fixture(scope="module", params=FAMILIES)
def family_model(request):
    model = ChatModel.load(str(tiny_gguf_path(request.param)), progress=False)
    assert model.format_name == request.param.split("-")[0]
    return model


def valid_calls(result):
    for call in result.tool_calls:
        assert call.name in SCHEMAS
        assert validate_instance(json.loads(call.arguments), SCHEMAS[call.name]) is None, call
    assert not [e for e in result.errors if "schema" in e.reason or "not among" in e.reason], result.errors


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_required_always_calls_and_validates(family_model, seed):
    result = family_model.chat(ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed, max_tokens=160)
    valid_calls(result)
    if result.finish_reason != "length":
        assert result.finish_reason == "tool_calls" and result.tool_calls
        assert not result.content


@pytest.mark.parametrize("seed", [0, 1])
def test_named_calls_exactly_that_tool_once(family_model, seed):
    for attempt in range(3):  # a draw at temperature 1 may write a string past max_tokens: another seed then
        result = family_model.chat(ASK, tools=TOOLS, temperature=1.0, seed=seed + 10 * attempt, max_tokens=160,
                                   tool_choice={"type": "function", "function": {"name": "lookup_order"}})
        valid_calls(result)
        if result.finish_reason != "length":
            break
    assert result.finish_reason == "tool_calls"
    assert [c.name for c in result.tool_calls] == ["lookup_order"]


def test_parallel_false_allows_at_most_one_call(family_model):
    for seed in range(3):
        result = family_model.chat(ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
                                   temperature=1.0, seed=seed, max_tokens=160)
        valid_calls(result)
        assert len(result.tool_calls) <= 1


def test_auto_never_returns_an_invalid_call(family_model):
    for seed in range(3):
        result = family_model.chat(ASK, tools=TOOLS, tool_choice="auto", temperature=1.0, seed=seed, max_tokens=48)
        valid_calls(result)


def test_streamed_argument_fragments_join_to_the_final_arguments(family_model):
    args: dict[int, list[str]] = {}
    names = {}
    final = None
    for event in family_model.stream(ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=5, max_tokens=160):
        if isinstance(event, ToolCallStart):
            names[event.index] = event.name
            args[event.index] = []
        elif isinstance(event, ToolCallDelta):
            args[event.index].append(event.arguments)
        elif isinstance(event, Finished):
            final = event.result
    assert [c.arguments for c in final.tool_calls] == ["".join(args[i]) for i in sorted(args)][: len(final.tool_calls)]
    assert [c.name for c in final.tool_calls] == [names[i] for i in sorted(names)][: len(final.tool_calls)]


def test_outlines_engine_on_a_family_without_control_tokens():
    model = ChatModel.load(str(tiny_gguf_path("generic")), engine="outlines", progress=False)
    for seed in range(2):
        result = model.chat(ASK, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed, max_tokens=160)
        valid_calls(result)
        if result.finish_reason != "length":
            assert result.tool_calls
    named = model.chat(ASK, tools=TOOLS, temperature=1.0, seed=3, max_tokens=160,
                       tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert [c.name for c in named.tool_calls] == ["get_weather"]
    valid_calls(named)


def test_outlines_engine_names_what_it_cannot_express():
    model = ChatModel.load(str(tiny_gguf_path("hermes")), engine="outlines", progress=False)
    with pytest.raises(RequestError, match="outlines engine cannot express free text"):
        model.chat(ASK, tools=TOOLS, tool_choice="auto")
    mistral = ChatModel.load(str(tiny_gguf_path("mistral")), engine="outlines", progress=False)
    with pytest.raises(RequestError, match=r"control token '\[TOOL_CALLS\]'"):
        mistral.chat(ASK, tools=TOOLS, tool_choice="required")


def test_outlines_refuses_keywords_it_would_ignore():
    model = ChatModel.load(str(tiny_gguf_path("generic")), engine="outlines", progress=False)
    bounded = {"type": "function", "function": {"name": "pick", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}, "required": ["n"]}}}
    with pytest.raises(RequestError, match=r"tool 'pick' parameters at properties/n: .*cannot enforce 'maximum'"):
        model.chat(ASK, tools=[bounded], tool_choice="required")
