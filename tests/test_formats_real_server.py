"""Real release templates on real vocabularies, through the live server and the official
openai client: forced calls (required, named) are valid calls, and the stream joins to the
whole reply. The models are tiny random-weight GGUFs (tests/fixtures/real_gguf.py).

Mistral's templates run on a SentencePiece vocabulary that adds the word-prefix space (Llama
2's, as Mistral 7B v0.3's does): every forced call used to fail with HTTP 500 there, because
the grammar forced "[" and the tokenizer spelled it " [" (issue 10)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from fixtures.coverage import ASK, CONVERSATION, SCHEMAS, TOOLS, chat_model
from localcall.server import ServerSettings
from test_server_chat import stream_tool_calls

TEMPLATES = ["mistralai-Mistral-Nemo-Instruct-2407", "Mistral-Small-3.2-24B-Instruct-2506",
             "unsloth-mistral-Devstral-Small-2507", "Qwen3-Coder", "Qwen3.5-4B", "meta-llama-Llama-3.1-8B-Instruct",
             "Qwen-Qwen2.5-7B-Instruct", "GLM-4.6", "GLM-4.7-Flash", "openai-gpt-oss-120b",
             "google-gemma-4-31B-it"]
CHOICES = {"required": "required", "named": {"type": "function", "function": {"name": "get_time"}}}


@pytest.fixture(scope="module")
def real_server(start_server):
    models = {name: chat_model(name) for name in TEMPLATES}
    return start_server(models, ServerSettings(request_timeout=120, default_max_tokens=64))


def check_forced_call(client, model: str, choice: str, max_tokens: int = 64) -> None:
    """A forced call (CHOICES[choice]) is one valid call, and the stream joins to the whole reply."""
    request = dict(model=model, messages=ASK, tools=TOOLS, tool_choice=CHOICES[choice], parallel_tool_calls=False,
                   max_tokens=max_tokens, temperature=1.0, seed=3)
    whole = client.chat.completions.create(**request)
    message = whole.choices[0].message
    assert whole.choices[0].finish_reason == "tool_calls" and len(message.tool_calls) == 1, message
    call = message.tool_calls[0]
    if choice == "named":
        assert call.function.name == "get_time"
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    streamed, content, finish = stream_tool_calls(client, **request)
    assert [(c["name"], c["arguments"]) for c in streamed] == [(call.function.name, call.function.arguments)]
    assert finish == "tool_calls" and not content


def check_calls_again(client, model: str, max_tokens: int = 64) -> None:
    """History from another server: call ids like call_0d9f3e2a7b (Mistral's templates insist on
    9 alphanumerics) and its result, as an agent loop sends them; the next forced call is valid."""
    reply = client.chat.completions.create(model=model, messages=CONVERSATION, tools=TOOLS, tool_choice="required",
                                           parallel_tool_calls=False, max_tokens=max_tokens, seed=1)
    call, = reply.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("choice", CHOICES)
def test_forced_calls_are_valid_and_streamed_equals_whole(real_server, template, choice):
    check_forced_call(real_server.client(), template, choice)


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_conversation_with_openai_call_ids_and_a_result_renders_and_calls_again(real_server, template):
    check_calls_again(real_server.client(), template)


def test_qwen35_generates_inside_the_reasoning_its_prompt_opened(real_server):
    """Qwen 3.5's template ends the prompt with "<think>\\n": what the model writes first is
    reasoning. In auto it goes to reasoning_content, not content, and a call marker inside it
    would be no call; a forced call closes the block at once and calls."""
    client = real_server.client()
    auto = client.chat.completions.create(model="Qwen3.5-4B", messages=ASK, tools=TOOLS, tool_choice="auto",
                                          max_tokens=24, temperature=1.0, seed=5)
    message = auto.choices[0].message
    assert not message.content and not message.tool_calls
    assert message.model_extra.get("reasoning_content")
    forced = client.chat.completions.create(model="Qwen3.5-4B", messages=ASK, tools=TOOLS, tool_choice="required",
                                            parallel_tool_calls=False, max_tokens=64, temperature=1.0, seed=5)
    call, = forced.choices[0].message.tool_calls
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
