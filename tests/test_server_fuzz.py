"""Property test of the request schema against a live server: whatever the body (garbage
JSON, near-valid requests with wrong types, odd JSON schemas for tools and response_format,
unknown fields, raw bytes), the answer is never a 5xx, every error is OpenAI-shaped, and
every stream ends with [DONE]."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MODEL = "smollm2-135m"
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def maybe(strategy):
    """Usually the plausible value, sometimes any JSON at all (for schema keywords)."""
    return st.one_of(strategy, strategy, strategy, json_values)


schemas = st.deferred(lambda: st.fixed_dictionaries({}, optional={
    "type": maybe(st.sampled_from(["object", "string", "integer", "number", "boolean", "array", "null", "dict",
                                   "float"]) | st.lists(st.sampled_from(["string", "null", "integer"]), max_size=3)),
    "properties": maybe(st.dictionaries(st.text(max_size=6), schemas, max_size=3)),
    "items": maybe(schemas),
    "required": maybe(st.lists(st.text(max_size=6), max_size=3)),
    "enum": maybe(st.lists(scalars, max_size=3)),
    "const": scalars,
    "minimum": maybe(st.integers(-5, 5)), "maximum": maybe(st.integers(-5, 5)),
    "minLength": maybe(st.integers(-1, 4)), "maxLength": maybe(st.integers(-1, 6)),
    "pattern": maybe(st.sampled_from(["^a+$", "[", "(?<x>a)", "\\d{2}"])),
    "anyOf": maybe(st.lists(schemas, max_size=2)), "oneOf": maybe(st.lists(schemas, max_size=2)),
    "allOf": maybe(st.lists(schemas, max_size=2)), "not": schemas,
    "$ref": maybe(st.sampled_from(["#/$defs/a", "#", "#/nope", "http://example.com/s"])),
    "$defs": maybe(st.dictionaries(st.sampled_from(["a", "b"]), schemas, max_size=2)),
    "additionalProperties": maybe(st.booleans() | schemas),
    "format": maybe(st.sampled_from(["date-time", "email", "uuid", "nonsense"])),
}))
tool_names = st.sampled_from(["lookup", "get_weather", "a.b", "x-y"])


def nested_objects(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


# Hostile schemas (issue 17): nesting past any recursion limit, references that recurse with
# or without a finite value, references in every spelling, and text that is not Unicode
# (lone surrogates, which JSON can escape and UTF-8 cannot carry).
lone_surrogates = st.sampled_from(["\ud800", "\udfff", "\ud83d", "\udc00"])
hostile_text = st.text(max_size=6) | st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), lone_surrogates,
                                               st.text(max_size=3))
SELF = {"$ref": "#"}
ADDRESS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
recursive_schemas = st.sampled_from([
    SELF,
    {"type": "object", "properties": {"n": SELF}, "required": ["n"]},
    {"type": "object", "properties": {"n": SELF}},
    {"type": "object", "properties": {"n": {"anyOf": [SELF, {"type": "null"}]}}, "required": ["n"]},
    {"type": "object", "properties": {"kids": {"type": "array", "items": SELF}}},
    {"type": "object", "properties": {"kids": {"type": "array", "minItems": 1, "items": SELF}}, "required": ["kids"]},
    {"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
               "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"]}},
     "$ref": "#/$defs/A"},
    {"$defs": {"Address": ADDRESS}, "type": "object", "properties": {"to": {"$ref": "#/$defs/Address"}},
     "required": ["to"]},
    {"definitions": {"Address": ADDRESS}, "type": "object", "properties": {"to": {"$ref": "#/definitions/Address"}}},
    {"type": "object", "properties": {"a": ADDRESS, "b": {"$ref": "#/properties/a"}}},
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
    {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
    {"type": "object", "properties": {"a": {"$ref": "#anchor"}}},
    {"type": "object", "properties": {"a": {"$dynamicRef": "#meta"}}},
    {"type": "object", "properties": {"a": False}, "required": ["a"]},
])
hostile_schemas = st.one_of(
    st.integers(1, 300).map(nested_objects),
    recursive_schemas,
    st.builds(lambda text: {"type": "object", "properties": {"a": {"type": "string", "description": text}}},
              hostile_text),
    st.builds(lambda text: {"type": "object", "properties": {text: {"type": "string"}}}, hostile_text),
    st.builds(lambda text: {"type": "object", "properties": {"a": {"enum": ["ok", text]}}}, hostile_text),
    st.builds(lambda inner, at: {"type": "object", "properties": {"a": inner}, "$defs": {"d": at}}, schemas, schemas),
)

text_parts = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}), min_size=1,
                      max_size=2)
contents = st.text(max_size=40) | text_parts


@st.composite
def conversations(draw) -> list[dict]:
    """A valid conversation: maybe a system message, a user turn, maybe a tool exchange."""
    out = []
    if draw(st.booleans()):
        out.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(contents)})
    out.append({"role": "user", "content": draw(contents)})
    if draw(st.booleans()):
        ids = draw(st.lists(st.sampled_from(["call_1", "call_2", "call_3"]), min_size=1, max_size=2, unique=True))
        out.append({"role": "assistant", "content": draw(st.none() | st.text(max_size=10)), "tool_calls": [
            {"id": i, "type": "function",
             "function": {"name": draw(tool_names), "arguments": draw(st.sampled_from(['{}', '{"q": "x"}', 'oops']))}}
            for i in ids]})
        out.extend({"role": "tool", "tool_call_id": i, "content": draw(contents)} for i in ids)
        if draw(st.booleans()):
            out.append({"role": "user", "content": draw(contents)})
    return out


tools = st.lists(st.builds(lambda name, params, desc: {"type": "function", "function": {
    "name": name, "description": desc, **({"parameters": params} if params is not None else {})}},
    tool_names, st.none() | schemas, st.text(max_size=20)), max_size=3, unique_by=lambda t: t["function"]["name"])
choices = st.sampled_from(["auto", "none", "required"]) | st.builds(
    lambda name: {"type": "function", "function": {"name": name}}, tool_names)
formats = (st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"])})
           | st.builds(lambda schema: {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}},
                       schemas))
valid_requests = st.fixed_dictionaries(
    {"model": st.just(MODEL), "messages": conversations()},
    optional={"tools": tools, "tool_choice": choices, "parallel_tool_calls": st.booleans(), "response_format": formats,
              "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "top_k": st.integers(0, 50),
              "seed": st.integers(-2 ** 63, 2 ** 63 - 1),
              "stop": st.text(max_size=4) | st.lists(st.text(max_size=4), max_size=4),
              "max_tokens": st.integers(1, 3), "max_completion_tokens": st.integers(1, 3), "stream": st.booleans(),
              "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}), "n": st.just(1),
              "logprobs": st.just(False), "user": st.text(max_size=8), "frobnicate": json_values})
FIELDS = ["model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format", "temperature", "top_p",
          "top_k", "seed", "stop", "max_tokens", "stream", "stream_options", "n", "logprobs"]


@st.composite
def requests(draw) -> dict:
    """A valid request, half the time with one field (or one message's field) replaced by any JSON."""
    body = draw(valid_requests)
    if draw(st.booleans()):
        if draw(st.booleans()):
            body[draw(st.sampled_from(FIELDS))] = draw(json_values)
        else:
            message = draw(st.sampled_from(body["messages"]))
            message[draw(st.sampled_from(["role", "content", "tool_calls", "tool_call_id"]))] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def fuzz_server(start_server, default_model):
    """Two tokens at most per request, so valid requests are quick too."""
    from localcall.server import ServerSettings

    return start_server({MODEL: default_model}, ServerSettings(default_max_tokens=2, request_timeout=30))


def check(response: httpx2.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"] and {"type", "param", "code"} <= set(error)
    elif response.headers["content-type"].startswith("text/event-stream"):
        lines = [line for line in response.text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        for line in lines[:-1]:
            chunk = json.loads(line.removeprefix("data: "))
            assert "error" not in chunk or chunk["error"]["type"] != "server_error", chunk
    else:
        assert response.json()["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls")


def post(server, **kwargs) -> httpx2.Response:
    return httpx2.post(server.url + "/v1/chat/completions", timeout=60, **kwargs)


@FAST
@given(body=requests())
def test_near_valid_requests_never_5xx(fuzz_server, body):
    check(post(fuzz_server, json=body))


@FAST
@given(schema=hostile_schemas, description=hostile_text, as_format=st.booleans(), stream=st.booleans(),
       choice=st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "lookup"}}]))
def test_hostile_schemas_never_5xx(fuzz_server, schema, description, as_format, stream, choice):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": stream}
    if as_format:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    else:
        body["tools"] = [{"type": "function", "function": {"name": "lookup", "description": description,
                                                           "parameters": schema}}]
        body["tool_choice"] = choice
    # ASCII JSON, as a client sends a lone surrogate: the escape "\\ud800".
    response = post(fuzz_server, content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    check(response)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(body=json_values)
def test_any_json_never_5xx(fuzz_server, body):
    check(post(fuzz_server, json=body))


@pytest.mark.parametrize("field", ["temperature", "top_p", "seed", "max_tokens", "frobnicate"])
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_never_5xx(fuzz_server, field, literal):
    """Python's JSON parser accepts NaN and Infinity, which JSON does not have."""
    raw = f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "hi"}}], "{field}": {literal}}}'
    check(post(fuzz_server, content=raw.encode(), headers={"content-type": "application/json"}))


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/plain", ""]))
def test_any_bytes_never_5xx(fuzz_server, raw, content_type):
    check(post(fuzz_server, content=raw, headers={"content-type": content_type} if content_type else {}))


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(model_id=st.text(max_size=30))
def test_model_ids_never_5xx(fuzz_server, model_id):
    response = httpx2.get(fuzz_server.url + "/v1/models/" + quote(model_id, safe=""), timeout=30)
    assert response.status_code in (200, 404, 405), response.text
