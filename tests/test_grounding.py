"""Grounded calls (model/grounding.py): what counts as taken from the conversation, and, on the
real default model, a call that takes nothing is dropped for an answer while one that takes the
user's words is kept, in the whole result and in the stream alike."""

from __future__ import annotations

import pytest

from localcall.messages import Finished, ToolCallStart, ToolSpec
from localcall.model.grounding import Grounding, conversation_text, is_grounded

CART = ToolSpec("add_to_cart", "Add a product to the shopping cart.", {
    "type": "object", "properties": {"product_id": {"type": "integer"}, "quantity": {"type": "integer"},
                                     "unit": {"type": "string", "enum": ["piece", "box"]}},
    "required": ["product_id", "quantity"]})
WEATHER = ToolSpec("get_weather", "The current weather in a city.", {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def _text(*user: str) -> str:
    return conversation_text([{"role": "user", "content": u} for u in user])


@pytest.mark.parametrize("arguments, said, grounded", [
    ({"product_id": 123, "quantity": 10}, "Who wrote Hamlet?", False),
    ({"product_id": 123, "quantity": 10}, "Put 10 of item 123 in my cart", True),
    ({"product_id": 123, "quantity": 2}, "Add two boxes of product 123", True),
    ({"product_id": 5, "quantity": 1}, "Add product 15 and 51, 1.5 kg", False),  # not inside other numbers
    ({"product_id": 10000, "quantity": 3.0}, "Order 10,000 units, 3 at a time", True),
    ({"product_id": 7, "quantity": 7, "unit": "box"}, "Who wrote Hamlet?", False),  # one chosen value is not enough
    ({"city": "New  York"}, "Is it raining in new york?", True),
    ({"city": "Paris"}, "Is it raining in Rome?", False),
    ({}, "Anything", True),  # nothing invented
])
def test_a_call_is_grounded_when_a_value_comes_from_the_conversation(arguments, said, grounded):
    tool = WEATHER if "city" in arguments else CART
    assert is_grounded(arguments, tool, _text(said)) is grounded


def test_values_the_tool_offers_invent_nothing():
    assert is_grounded({"unit": "piece"}, CART, _text("Who wrote Hamlet?"))


def test_earlier_steps_and_tool_results_count_as_the_conversation():
    messages = [{"role": "user", "content": "Reorder my last purchase."},
                {"role": "assistant", "content": None, "tool_calls": [{
                    "id": "c1", "type": "function", "function": {"name": "last_order", "arguments": '{"user": "ann"}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": '{"product_id": 4711, "quantity": 3}'}]
    grounding = Grounding.of(messages, [CART])
    assert grounding.grounded("add_to_cart", '{"product_id": 4711, "quantity": 3}')
    assert not grounding.grounded("add_to_cart", '{"product_id": 99, "quantity": 8}')
    assert grounding.grounded("add_to_cart", '{"product_id": 99')  # unfinished: not judged here


# --- on the real default model ---------------------------------------------------------------

BOOK = [{"role": "user", "content": "Who wrote the novel Pride and Prejudice?"}]
CALLING = {"temperature": 0.0, "max_tokens": 96, "answer_bias": -100.0}  # the decision is forced to call


def test_the_default_model_has_the_rule_on(default_model):
    assert default_model.defaults.grounded_calls


def _tools():
    return [CART.to_openai(), WEATHER.to_openai()]


def test_an_ungrounded_call_becomes_an_answer(default_model):
    # One call at most: how many a greedy turn invents can flip with the last bits of the
    # logits, which depend on what the model's cache held from earlier tests.
    one = {**CALLING, "parallel_tool_calls": False}
    called = default_model.chat(BOOK, tools=_tools(), tool_choice="auto", grounded_calls=False, **one)
    call, = called.tool_calls  # without the rule, the model invents a call
    assert not Grounding.of(BOOK, [CART, WEATHER]).grounded(call.name, call.arguments)
    answered = default_model.chat(BOOK, tools=_tools(), tool_choice="auto", grounded_calls=True, **one)
    assert not answered.tool_calls and answered.content and answered.finish_reason in ("stop", "length")
    # The call given up was generated: its tokens are counted.
    assert answered.usage.completion_tokens > called.usage.completion_tokens


def test_the_stream_never_shows_the_dropped_call(default_model):
    events = list(default_model.stream(BOOK, tools=_tools(), tool_choice="auto", grounded_calls=True, **CALLING))
    assert not any(isinstance(e, ToolCallStart) for e in events)
    result = events[-1].result
    assert isinstance(events[-1], Finished) and result.content and not result.tool_calls


def test_a_call_that_takes_the_users_words_is_kept(default_model):
    ask = [{"role": "user", "content": "What is the weather in Tokyo?"}]
    plain = default_model.chat(ask, tools=_tools(), tool_choice="auto", grounded_calls=False, **CALLING)
    grounded = default_model.chat(ask, tools=_tools(), tool_choice="auto", grounded_calls=True, **CALLING)
    assert [(c.name, c.arguments) for c in grounded.tool_calls] == [(c.name, c.arguments) for c in plain.tool_calls]
    assert grounded.tool_calls[0].name == "get_weather" and "Tokyo" in grounded.tool_calls[0].arguments


def test_required_calls_are_never_judged(default_model):
    forced = default_model.chat(BOOK, tools=_tools(), tool_choice="required", grounded_calls=True,
                                temperature=0.0, max_tokens=96)
    assert forced.tool_calls


def test_a_native_family_answers_from_the_prompt_without_tools():
    from fixtures.tiny_gguf import tiny_gguf_path

    from localcall.model import ChatModel

    model = ChatModel.load(str(tiny_gguf_path("hermes")), progress=False)
    lookup = ToolSpec("lookup", "Look a word up.", {
        "type": "object", "properties": {"word": {"type": "string", "maxLength": 8}}, "required": ["word"]})
    ask = dict(messages=[{"role": "user", "content": "Hello there"}], tools=[lookup.to_openai()], tool_choice="auto",
               temperature=0.0, max_tokens=48, answer_bias=-100.0)
    called = model.chat(**ask)
    call = called.tool_calls[0]  # random weights pushed to call: a word taken from nothing
    assert not Grounding.of(ask["messages"], [lookup]).grounded(call.name, call.arguments)
    answered = model.chat(**ask, grounded_calls=True)
    assert not answered.tool_calls and not answered.incomplete_calls
    # The answer ran on the family's prompt without its tools (tool_choice="none"), after the call.
    assert answered.usage.prompt_tokens < called.usage.prompt_tokens
