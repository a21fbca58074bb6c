"""tool_choice allowed_tools, strict function schemas and the openai client's structured
helpers (pydantic_function_tool, chat.completions.parse), against a live server and the
real default model."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

MODEL = "smollm2-135m"
ASK = [{"role": "user", "content": "What is the weather in Paris, and the time there?"}]


def tool(name: str, properties: dict, *, strict: bool | None = None, **schema) -> dict:
    fn = {"name": name, "description": f"The {name.split('_')[-1]}.",
          "parameters": {"type": "object", "properties": properties, "required": list(properties),
                         "additionalProperties": False, **schema}}
    if strict is not None:
        fn["strict"] = strict
    return {"type": "function", "function": fn}


WEATHER = tool("get_weather", {"city": {"type": "string", "maxLength": 20}})
TIME = tool("get_time", {"timezone": {"type": "string", "maxLength": 30}})
NEWS = tool("get_news", {"topic": {"type": "string", "maxLength": 30}})


def allowed(mode: str, *names: str) -> dict:
    return {"type": "allowed_tools",
            "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": n}} for n in names]}}


def test_allowed_tools_required_calls_only_the_allowed(openai_client):
    for name in ("get_time", "get_news"):
        r = openai_client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER, TIME, NEWS],
                                                  tool_choice=allowed("required", name), max_tokens=100, seed=1,
                                                  parallel_tool_calls=False)
        calls = r.choices[0].message.tool_calls
        assert calls and {c.function.name for c in calls} == {name}
        assert r.choices[0].finish_reason == "tool_calls"


def test_allowed_tools_auto_never_calls_a_tool_left_out(openai_client):
    for seed in range(3):
        r = openai_client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER, TIME, NEWS],
                                                  tool_choice=allowed("auto", "get_weather", "get_time"),
                                                  max_tokens=40, seed=seed)
        assert {c.function.name for c in r.choices[0].message.tool_calls or ()} <= {"get_weather", "get_time"}


def test_allowed_tools_naming_an_unknown_tool_is_400(openai_client):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER],
                                              tool_choice=allowed("required", "get_stock"))
    assert info.value.param == "tool_choice" and "get_stock" in info.value.message


@pytest.mark.parametrize("parameters, where", [
    ({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}, "at the root"),
    ({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
      "required": ["city"], "additionalProperties": False}, "'unit'"),
    ({"type": "object", "additionalProperties": False, "required": ["place"],
      "properties": {"place": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
     "properties.place"),
    ({"type": "object", "additionalProperties": False, "required": ["stops"],
      "properties": {"stops": {"type": "array", "items": {
          "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
          "required": ["city"], "additionalProperties": False}}}}, "properties.stops.items"),
])
def test_strict_schema_breaking_the_rules_is_400(openai_client, parameters, where):
    bad = {"type": "function", "function": {"name": "get_weather", "parameters": parameters, "strict": True}}
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.chat.completions.create(model=MODEL, messages=ASK, tools=[bad], max_tokens=4)
    assert info.value.param.startswith("tools[0]")
    assert "get_weather" in info.value.message and where in info.value.message


def test_same_schema_without_strict_is_accepted(openai_client):
    loose = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}}}}
    r = openai_client.chat.completions.create(model=MODEL, messages=ASK, tools=[loose], tool_choice="required",
                                              max_tokens=30)
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


class Place(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=20)
    country: str = pydantic.Field(max_length=20)


class Forecast(pydantic.BaseModel):
    """The weather forecast for a place."""

    place: Place
    days: int = pydantic.Field(ge=1, le=7)


def test_pydantic_function_tool_with_nested_models_and_parse(openai_client):
    r = openai_client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Forecast for Paris, France, 3 days."}],
        tools=[openai.pydantic_function_tool(Forecast)], max_tokens=60,
        tool_choice={"type": "function", "function": {"name": "Forecast"}})
    call, = r.choices[0].message.tool_calls
    assert call.function.name == "Forecast"
    parsed = call.function.parsed_arguments
    assert isinstance(parsed, Forecast) and isinstance(parsed.place, Place) and 1 <= parsed.days <= 7
    assert parsed == Forecast.model_validate(json.loads(call.function.arguments))


def test_parse_with_a_response_format_model(openai_client):
    r = openai_client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Where is the Eiffel tower?"}], response_format=Place,
        max_tokens=40)
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, Place) and parsed.city and len(parsed.city) <= 20
