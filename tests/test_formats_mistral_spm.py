"""Mistral's own templates on a real SentencePiece vocabulary (Llama 2's, which adds the
word-prefix space as Mistral 7B v0.3's does), through the live server and the official openai
client. Every forced call used to fail with HTTP 500: the grammar forced "[" and the tokenizer
spelled it " [" (issue 10). The models are tiny random-weight GGUFs carrying the real template
and vocabulary (tests/fixtures/real_gguf.py)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from fixtures.real_gguf import mistral_model, real_gguf_path
from localcall.runtime.chat import ChatModel
from localcall.server import ServerSettings
from test_server_chat import stream_tool_calls

TEMPLATES = ["mistralai-Mistral-Nemo-Instruct-2407", "Mistral-Small-3.2-24B-Instruct-2506",
             "unsloth-mistral-Devstral-Small-2507"]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo", "Lima"]},
                                                    "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                   "required": ["city", "days"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a timezone.",
    "parameters": {"type": "object", "properties": {"timezone": {"enum": ["UTC", "CET"]}}, "required": ["timezone"]}}}
TOOLS = [WEATHER, TIME]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
CHOICES = {"required": "required", "named": {"type": "function", "function": {"name": "get_time"}}}


@pytest.fixture(scope="module")
def mistral_server(start_server):
    models = {name: ChatModel.load(str(real_gguf_path(mistral_model(name))), progress=False) for name in TEMPLATES}
    return start_server(models, ServerSettings(request_timeout=120, default_max_tokens=64))


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("choice", CHOICES)
def test_forced_calls_are_valid_and_streamed_equals_whole(mistral_server, template, choice):
    client = mistral_server.client()
    request = dict(model=template, messages=ASK, tools=TOOLS, tool_choice=CHOICES[choice], parallel_tool_calls=False,
                   max_tokens=64, temperature=1.0, seed=3)
    whole = client.chat.completions.create(**request)
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls" and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    if choice == "named":
        assert call.function.name == "get_time"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    streamed, content, finish = stream_tool_calls(client, **request)
    assert [(c["name"], c["arguments"]) for c in streamed] == [(call.function.name, call.function.arguments)]
    assert finish == "tool_calls" and not content


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_conversation_with_openai_call_ids_and_a_result_renders_and_calls_again(mistral_server, template):
    """History from another server: call ids like call_abc123 (Mistral's templates insist on 9
    alphanumerics) and its result, as an agent loop sends them; the next forced call is valid."""
    client = mistral_server.client()
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_0d9f3e2a7b", "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris", "days": 1})}}]},
        {"role": "tool", "tool_call_id": "call_0d9f3e2a7b", "content": "18 C, sunny"}]
    reply = client.chat.completions.create(model=template, messages=history, tools=TOOLS, tool_choice="required",
                                           parallel_tool_calls=False, max_tokens=64, seed=1)
    call, = reply.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
