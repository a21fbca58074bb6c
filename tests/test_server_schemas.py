"""Schemas through the live server and the official client: nested pydantic tools (the
client's own `pydantic_function_tool`) call and validate; hostile schemas are a 400 naming
the tool or field, never a 500."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest
from pydantic import BaseModel, Field

from localcall.grammars.schema import validate_instance

MODEL = "smollm2-135m"
ASK = [{"role": "user", "content": "Ship two books to 1 Main St, Springfield."}]


class Address(BaseModel):
    street: str = Field(max_length=16)
    city: str = Field(max_length=12)


class Item(BaseModel):
    sku: str = Field(max_length=8)
    quantity: int = Field(ge=1, le=9)


class Order(BaseModel):
    """Place an order."""
    ship_to: Address
    items: list[Item] = Field(min_length=1, max_length=2)


ORDER_TOOL = openai.pydantic_function_tool(Order)


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "Order"}}],
                         ids=["required", "named"])
def test_a_nested_pydantic_tool_calls_and_validates(openai_client, tool_choice):
    parameters = ORDER_TOOL["function"]["parameters"]
    assert "$defs" in parameters and parameters["properties"]["ship_to"] == {"$ref": "#/$defs/Address"}
    completion = openai_client.chat.completions.parse(
        model=MODEL, messages=ASK, tools=[ORDER_TOOL], tool_choice=tool_choice, temperature=0.7, seed=1,
        max_tokens=120, parallel_tool_calls=False)  # one call, as asserted: "required" may otherwise go on calling
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call, = choice.message.tool_calls
    assert call.function.name == "Order"
    assert isinstance(call.function.parsed_arguments, Order)  # the client's own pydantic validation
    assert validate_instance(json.loads(call.function.arguments), parameters) is None


def test_a_nested_pydantic_response_format_parses(openai_client):
    completion = openai_client.chat.completions.parse(model=MODEL, messages=ASK, response_format=Order,
                                                      temperature=0.7, seed=2, max_tokens=120)
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(completion.choices[0].message.parsed, Order)


def test_a_recursive_tool_schema_with_finite_values_is_served(openai_client):
    """Served, not refused. (The tiny model tends to nest until max_tokens: a cut call is
    marked incomplete, so only a finished one is checked against the schema.)"""
    tree = {"type": "object", "properties": {"leaf": {"type": "boolean"},
                                             "kids": {"type": "array", "maxItems": 2, "items": {"$ref": "#"}}},
            "required": ["leaf"]}
    for seed in range(2):
        completion = openai_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Draw a small tree."}], temperature=1.0, seed=seed,
            max_tokens=40, tool_choice="required", tools=[tool("draw", tree)])
        choice = completion.choices[0]
        assert choice.finish_reason in ("tool_calls", "length")
        cut = (completion.model_extra.get("localcall") or {}).get("incomplete_tool_calls") or []
        for call in choice.message.tool_calls or []:
            if call.id not in cut:
                assert validate_instance(json.loads(call.function.arguments), tree) is None


def nested(levels: int) -> dict:
    schema: dict = {"type": "integer"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


def tool(name: str, parameters: dict, description: str = "") -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


SELF_REQUIRED = {"type": "object", "properties": {"n": {"$ref": "#"}}, "required": ["n"]}
STRING = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

# (request fields, what the message must name, the error's param)
HOSTILE = {
    "200 nested objects": ({"tools": [tool("deep", nested(200))], "tool_choice": "required"},
                           ["tool 'deep' parameters", "properties/x/properties/x", "nested more than"], "tools"),
    "response_format $ref #": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "loop", "schema": {"$ref": "#"}}}}, ["response_format", "no finite value"], "response_format"),
    "required self-reference": ({"tools": [tool("loop", SELF_REQUIRED)], "tool_choice": "required"},
                                ["tool 'loop' parameters at properties/n", "no finite value"], "tools"),
    "named self-reference": ({"tools": [tool("loop", SELF_REQUIRED)],
                              "tool_choice": {"type": "function", "function": {"name": "loop"}}},
                             ["tool 'loop' parameters at properties/n"], "tools"),
    "surrogate in a response_format schema": ({"response_format": {"type": "json_schema", "json_schema": {
        "name": "s", "schema": {"type": "object", "properties": {"a": {"type": "string", "description": "\ud800"}}}}}},
        ["response_format", "properties/a/description", "lone surrogate"], "response_format"),
    "surrogate in a tool schema": ({"tools": [tool("w", {"type": "object", "properties": {
        "city": {"type": "string", "enum": ["Oslo", "\udc00"]}}})], "tool_choice": "required"},
        ["tool 'w' parameters at properties/city/enum/1", "lone surrogate"], "tools"),
    "surrogate in a tool description": ({"tools": [tool("w", STRING, "Weather \ud83d")], "tool_choice": "auto"},
                                        ["tool 'w' description", "lone surrogate"], "tools"),
    "remote reference": ({"tools": [tool("r", {"type": "object", "properties": {"a": {"$ref": "http://x/y.json"}}})],
                          "tool_choice": "required"}, ["tool 'r' parameters at properties/a", "remote"], "tools"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_hostile_schema_is_a_400_naming_the_field(live_server, name, stream):
    fields, names, param = HOSTILE[name]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": stream,
            **fields}
    raw = json.dumps(body).encode()  # ASCII JSON: a lone surrogate travels as the escape "\\ud800"
    r = httpx2.post(live_server.url + "/v1/chat/completions", content=raw,
                    headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["param"] == param
    for part in names:
        assert part in error["message"], error["message"]


def test_a_hostile_schema_is_the_clients_bad_request(openai_client):
    with pytest.raises(openai.BadRequestError, match="tool 'loop' parameters at properties/n"):
        openai_client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=4, tool_choice="required",
                                              tools=[tool("loop", SELF_REQUIRED)])
