"""The Responses API through the official openai client, against a live server with its own
SQLite store of responses, on the real default model: text, forced calls, the tool loop
(previous_response_id and the stateless form), streaming events, text.format, stored
responses, and refusals."""

from __future__ import annotations

import json
import sqlite3

import jsonschema
import openai
import pydantic
import pytest

MODEL = "smollm2-135m"
WEATHER = {"type": "function", "name": "get_weather", "description": "The current weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                          "required": ["city"], "additionalProperties": False}, "strict": True}
TIME = {"type": "function", "name": "get_time", "description": "The local time in a timezone.",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 30}},
                       "required": ["timezone"], "additionalProperties": False}, "strict": True}
FORCE_WEATHER = {"type": "function", "name": "get_weather"}


@pytest.fixture(scope="module")
def server(start_server, default_model, tmp_path_factory):
    from localcall.server import ServerSettings

    db = tmp_path_factory.mktemp("responses") / "responses.sqlite3"
    server = start_server({MODEL: default_model}, ServerSettings(request_timeout=300, default_max_tokens=128,
                                                                 responses_db=str(db)))
    server.db = db
    return server


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def calls_of(response):
    return [item for item in response.output if item.type == "function_call"]


def test_text_input(client):
    r = client.responses.create(model=MODEL, input="Say hello.", max_output_tokens=12)
    assert r.object == "response" and r.id.startswith("resp_") and r.model == MODEL
    message, = r.output
    assert message.type == "message" and message.role == "assistant" and message.content[0].type == "output_text"
    assert r.output_text == message.content[0].text and r.output_text
    assert 0 < r.usage.output_tokens <= 12 and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert (r.status, r.incomplete_details) in (("completed", None), ("incomplete", r.incomplete_details))
    if r.status == "incomplete":
        assert r.incomplete_details.reason == "max_output_tokens"


def test_forced_call_matches_the_schema(client):
    r = client.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER, TIME],
                                tool_choice="required", parallel_tool_calls=False, max_output_tokens=60)
    call, = calls_of(r)
    assert call.name in ("get_weather", "get_time") and call.call_id and call.status == "completed"
    schema = (WEATHER if call.name == "get_weather" else TIME)["parameters"]
    jsonschema.validate(json.loads(call.arguments), schema)
    assert r.status == "completed" and r.tools[0].name == "get_weather"


def test_allowed_tools(client):
    choice = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_time"}]}
    r = client.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER, TIME],
                                tool_choice=choice, parallel_tool_calls=False, max_output_tokens=60)
    assert [c.name for c in calls_of(r)] == ["get_time"]


def test_tool_loop_with_previous_response_id(client):
    first = client.responses.create(model=MODEL, input="What is the weather in Paris?", tools=[WEATHER],
                                    tool_choice=FORCE_WEATHER, max_output_tokens=60, instructions="Use the tools.")
    call, = calls_of(first)
    second = client.responses.create(
        model=MODEL, previous_response_id=first.id, tools=[WEATHER], tool_choice="none", max_output_tokens=20,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"celsius": 21})}])
    assert second.previous_response_id == first.id
    assert second.output[0].type == "message" and not calls_of(second)
    # The conversation came along: the call and its result are in the second prompt.
    assert second.usage.input_tokens > first.usage.input_tokens


def test_stateless_tool_loop(client):
    """The Agents SDK's way: the whole conversation as items, nothing stored."""
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.responses.create(model=MODEL, input=[question], tools=[WEATHER], tool_choice=FORCE_WEATHER,
                                    max_output_tokens=60, store=False)
    call, = calls_of(first)
    items = [question, {"type": "function_call", "call_id": call.call_id, "name": call.name,
                        "arguments": call.arguments},
             {"type": "function_call_output", "call_id": call.call_id, "output": "21 degrees, sunny"}]
    second = client.responses.create(model=MODEL, input=items, tools=[WEATHER], max_output_tokens=20, store=False,
                                     tool_choice="none")
    assert second.output_text and not calls_of(second)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)  # store=False kept nothing


def test_stream_events_of_a_call(client):
    events = list(client.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER],
                                          tool_choice=FORCE_WEATHER, max_output_tokens=60, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    call, = calls_of(final)
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done, = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert deltas == done.arguments == call.arguments
    added, = [e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    assert added.item.call_id == call.call_id and kinds.index("response.output_item.done") > kinds.index(
        "response.function_call_arguments.done")
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])


def test_stream_helper_text_and_stored(client):
    # A bounded format, so the answer ends within max_output_tokens (the helper wants response.completed).
    short = {"type": "json_schema", "name": "greeting", "strict": True,
             "schema": {"type": "object", "properties": {"greeting": {"type": "string", "maxLength": 12}},
                        "required": ["greeting"], "additionalProperties": False}}
    with client.responses.stream(model=MODEL, input="Say hello.", max_output_tokens=40,
                                 text={"format": short}) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed" and "".join(deltas) == final.output_text
    assert len(json.loads(final.output_text)["greeting"]) <= 12
    assert client.responses.retrieve(final.id).output_text == final.output_text  # a streamed response is stored


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=20)
    country: str = pydantic.Field(max_length=20)


def test_text_format_json_schema(client):
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}},
              "required": ["name"], "additionalProperties": False}
    r = client.responses.create(model=MODEL, input="Name a city.", max_output_tokens=30,
                                text={"format": {"type": "json_schema", "name": "city", "schema": schema,
                                                 "strict": True}})
    jsonschema.validate(json.loads(r.output_text), schema)
    assert r.text.format.type == "json_schema"
    parsed = client.responses.parse(model=MODEL, input="Where is the Eiffel tower?", text_format=City,
                                    max_output_tokens=40)
    assert isinstance(parsed.output_parsed, City)


def test_get_and_delete_stored_responses(server, client):
    r = client.responses.create(model=MODEL, input="Say hi.", max_output_tokens=4)
    again = client.responses.retrieve(r.id)
    assert again.id == r.id and again.output_text == r.output_text
    with sqlite3.connect(server.db) as db:  # a real SQLite file holds it
        assert db.execute("SELECT count(*) FROM responses WHERE id = ?", (r.id,)).fetchone() == (1,)
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=MODEL, input="more", previous_response_id=r.id)
    assert info.value.param == "previous_response_id"


@pytest.mark.parametrize("extra, param", [
    ({"tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"tools": [{**WEATHER, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]},
     "tools[0]"),
    ({"input": [{"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]}, "input"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}, "input[0].content"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
    ({"tool_choice": {"type": "function", "name": "get_stock"}, "tools": [WEATHER]}, "tool_choice"),
    ({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_stock"}]},
      "tools": [WEATHER]}, "tool_choice"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
])
def test_refused(client, extra, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(**{"model": MODEL, "input": "hi", **extra})
    assert info.value.param.startswith(param), info.value.message


def test_hosted_tools_are_refused_by_name(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="hi", tools=[{"type": "web_search"}])
    assert "'web_search'" in info.value.message and info.value.param == "tools[0]"


# --- API keys and server-side tools --------------------------------------------------------

KEYS = {"alice": "sk-alice", "bob": "sk-bob"}


@pytest.fixture(scope="module")
def keyed(start_server, default_model, tmp_path_factory):
    """Two API keys, one server-side tool, a store of its own."""
    from localcall.server import ServerSettings
    from localcall.server.auth import Auth
    from localcall.server.tools import ServerTools
    from localcall.tools import AuditLog, tool

    def get_weather(city: str) -> dict:
        return {"city": city, "temperature_c": 21}

    weather = tool(get_weather, description="The current weather in a city.", parameters=WEATHER["parameters"])
    where = tmp_path_factory.mktemp("keyed")
    audit = AuditLog(where / "audit.sqlite3")
    server = start_server({MODEL: default_model}, ServerSettings(
        auth=Auth.for_binding("127.0.0.1", [f"{n}={k}" for n, k in KEYS.items()]), request_timeout=300,
        default_max_tokens=48, tools=ServerTools([weather], audit=audit, max_steps=2),
        responses_db=str(where / "responses.sqlite3")))
    yield {name: server.client(api_key=key) for name, key in KEYS.items()}
    audit.close()


def test_a_stored_response_belongs_to_its_key(keyed):
    alice, bob = keyed["alice"], keyed["bob"]
    r = alice.responses.create(model=MODEL, input="Say hi.", max_output_tokens=4, tool_choice="none")
    assert alice.responses.retrieve(r.id).id == r.id
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.create(model=MODEL, input="more", previous_response_id=r.id, max_output_tokens=4)
    assert alice.responses.retrieve(r.id).id == r.id  # bob's delete removed nothing


def test_server_tools_run_on_the_responses_api(keyed):
    r = keyed["alice"].responses.create(model=MODEL, input="What is the weather in Paris?", max_output_tokens=48,
                                        tool_choice=FORCE_WEATHER)
    ran = r.model_extra["localcall"]["executed_tool_calls"]
    assert ran[0]["name"] == "get_weather" and ran[0]["status"] == "ok"
    assert json.loads(ran[0]["content"])["temperature_c"] == 21
    assert not calls_of(r)  # the server ran it: no call goes back to the client
