"""Errors: OpenAI's shape, the right status, and the exception class the official client raises."""

from __future__ import annotations

import json
import re

import httpx2
import openai
import pytest

MODEL = "smollm2-135m"
HI = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


def post(server, body=None, **kwargs):
    return httpx2.post(server.url + "/v1/chat/completions", json=body, timeout=60, **kwargs)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2", b"\xff\xfe"])
def test_malformed_json_is_400(live_server, raw):
    r = httpx2.post(live_server.url + "/v1/chat/completions", content=raw,
                    headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400
    assert error_of(r)["type"] == "invalid_request_error"


@pytest.mark.parametrize("body, param", [
    ([], None),
    ({"messages": HI}, "model"),
    ({"model": MODEL}, "messages"),
    ({"model": MODEL, "messages": []}, "messages"),
    ({"model": MODEL, "messages": "hi"}, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"model": MODEL, "messages": HI, "temperature": 5}, "temperature"),
    ({"model": MODEL, "messages": HI, "max_tokens": 0}, "max_tokens"),
    ({"model": MODEL, "messages": HI, "seed": 2 ** 70}, "seed"),
    ({"model": MODEL, "messages": HI, "n": 0}, "n"),
    ({"model": MODEL, "messages": HI, "n": 17}, "n"),
    ({"model": MODEL, "messages": HI, "top_logprobs": 3}, "top_logprobs"),
    ({"model": MODEL, "messages": HI, "logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"model": MODEL, "messages": HI, "presence_penalty": 2.5}, "presence_penalty"),
    ({"model": MODEL, "messages": HI, "logit_bias": {"hello": 3}}, "logit_bias"),
    ({"model": MODEL, "messages": HI, "logit_bias": {"5": 101}}, "logit_bias"),
    ({"model": MODEL, "messages": HI, "modalities": ["audio"]}, "modalities"),
    ({"model": MODEL, "messages": HI, "tools": [{"type": "function", "function": {"name": "has space"}}]},
     "tools[0].function.name"),
    ({"model": MODEL, "messages": HI, "tool_choice": "sometimes"}, "tool_choice"),
    ({"model": MODEL, "messages": HI, "response_format": {"type": "xml"}}, "response_format"),
    ({"model": MODEL, "messages": HI, "stream": "yes please"}, "stream"),
])
def test_invalid_requests_are_400_naming_the_field(live_server, body, param):
    r = post(live_server, body)
    assert r.status_code == 400, r.text
    assert error_of(r)["param"] == param


def test_wrong_content_type_is_400(live_server):
    r = httpx2.post(live_server.url + "/v1/chat/completions", content=b'{"model": "x"}',
                    headers={"content-type": "text/plain"}, timeout=30)
    assert r.status_code == 400


def test_unknown_fields_are_ignored(openai_client):
    r = openai_client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2, n=1, logprobs=False,
                                              extra_body={"frobnicate": True, "reasoning_effort": "low"})
    assert r.choices[0].finish_reason in ("stop", "length")


def test_client_raises_bad_request(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=HI, audio={"voice": "alloy", "format": "wav"})
    assert info.value.status_code == 400 and info.value.param == "audio" and "text" in info.value.message


def test_tool_message_answering_no_call(openai_client):
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "call_a", "content": "ok"},
                {"role": "tool", "tool_call_id": "call_zzz", "content": "orphan"}]
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL])
    assert "call_zzz" in info.value.message and "messages[3]" in info.value.message


def test_prompt_longer_than_the_context_says_both_numbers(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, max_tokens=1,
                                              messages=[{"role": "user", "content": "word " * 9000}])
    numbers = [int(n) for n in re.findall(r"\d+", info.value.message)]
    assert any(n > 8192 for n in numbers) and 8192 in numbers, info.value.message


def test_named_tool_not_offered(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=HI, tools=[TOOL],
                                              tool_choice={"type": "function", "function": {"name": "nope"}})
    assert info.value.param == "tool_choice"


def test_required_without_tools(openai_client):
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model=MODEL, messages=HI, tool_choice="required")


def test_tool_schema_that_cannot_be_enforced(openai_client):
    bad = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "no-such-type"}}}}}
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=HI, tools=[bad], tool_choice="required")
    assert info.value.param == "tools"


def test_response_format_without_schema(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=HI,
                                              response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert info.value.param == "response_format"


def test_streamed_request_errors_before_the_stream(openai_client):
    """A refusal is a real status even with stream=true: nothing was sent yet."""
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(model=MODEL, messages=HI, tool_choice="required", stream=True)
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)


def test_unknown_model_is_404(openai_client):
    with pytest.raises(openai.NotFoundError) as info:
        openai_client.chat.completions.create(model="gpt-4o", messages=HI)
    assert info.value.param == "model" and MODEL in info.value.message
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("gpt-4o")


def test_unknown_route_and_method(live_server):
    r = httpx2.get(live_server.url + "/v1/nothing-here", timeout=10)
    assert r.status_code == 404 and error_of(r)
    r = httpx2.get(live_server.url + "/v1/chat/completions", timeout=10)
    assert r.status_code == 405 and error_of(r)


def test_oversized_body_is_413(start_server, default_model):
    from localcall.server import ServerSettings

    server = start_server({MODEL: default_model}, ServerSettings(max_body_bytes=1000))
    big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 2000}]}
    r = httpx2.post(server.url + "/v1/chat/completions", json=big, timeout=30)
    assert r.status_code == 413 and error_of(r)["code"] == "request_too_large"

    def chunked():  # no Content-Length: the cap is enforced while reading
        yield json.dumps(big).encode()

    r = httpx2.post(server.url + "/v1/chat/completions", content=chunked(), timeout=30,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    small = server.client().chat.completions.create(model=MODEL, messages=HI, max_tokens=2)
    assert small.choices
