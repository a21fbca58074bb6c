"""How answers end, through the live server and the official openai client, on the real default
model: a call cut by max_tokens (the stream and the whole reply agree, as OpenAI's do), a call
repeated within one message (dropped, generation stopped), the last tool-less step of an agent
loop (no call syntax leaks into the answer), and prompts refused before any tokenizing."""

from __future__ import annotations

import json

import httpx2
import jsonschema
import pytest

from test_server_chat import MODEL, stream_tool_calls

NOTE = {"type": "function", "function": {
    "name": "write_note", "description": "Save a note.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}
MULTIPLY = {"type": "function", "function": {
    "name": "multiply", "description": "Multiply two integers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


# --- a call cut by max_tokens ----------------------------------------------------------------

CUT = dict(model=MODEL, messages=[{"role": "user", "content": "Write a note on the history of Rome."}],
           tools=[NOTE], tool_choice="required", max_tokens=24, seed=3)


def test_a_cut_call_is_returned_as_far_as_generated(openai_client):
    r = openai_client.chat.completions.create(**CUT)
    choice = r.choices[0]
    assert choice.finish_reason == "length"
    call, = choice.message.tool_calls
    assert call.function.name == "write_note"
    assert call.function.arguments.startswith('{"text": "')
    with pytest.raises(json.JSONDecodeError):  # cut short: never presented as a finished call
        json.loads(call.function.arguments)
    assert r.model_extra["localcall"]["incomplete_tool_calls"] == [call.id]


def test_a_cut_call_streams_as_the_whole_reply_shows_it(openai_client):
    whole = openai_client.chat.completions.create(**CUT).choices[0]
    streamed, content, finish = stream_tool_calls(openai_client, **CUT)
    assert finish == whole.finish_reason == "length"
    assert [(c["name"], c["arguments"]) for c in streamed] == [
        (c.function.name, c.function.arguments) for c in whole.message.tool_calls]
    assert content == ""


def test_a_finished_call_is_not_marked_incomplete(openai_client):
    short = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 30}}, "required": ["text"]}
    tool = {"type": "function", "function": {**NOTE["function"], "parameters": short}}
    r = openai_client.chat.completions.create(**{**CUT, "tools": [tool], "max_tokens": 200,
                                                 "parallel_tool_calls": False})
    assert r.choices[0].finish_reason == "tool_calls"
    for call in r.choices[0].message.tool_calls:
        jsonschema.validate(json.loads(call.function.arguments), short)
    assert "incomplete_tool_calls" not in (r.model_extra.get("localcall") or {})


# --- a call repeated within one message ------------------------------------------------------

REPEAT = dict(model=MODEL, messages=[{"role": "user", "content": "Compute 17 times 23."}], tools=[MULTIPLY],
              tool_choice="required", max_tokens=120, seed=1, temperature=0)


def call_keys(response) -> list[tuple[str, str]]:
    """(name, canonical arguments) of each finished call."""
    cut = (response.model_extra.get("localcall") or {}).get("incomplete_tool_calls") or []
    return [(c.function.name, json.dumps(json.loads(c.function.arguments), sort_keys=True))
            for c in response.choices[0].message.tool_calls if c.id not in cut]


def test_repeated_calls_are_dropped_and_counted(openai_client):
    allowed = openai_client.chat.completions.create(**REPEAT, extra_body={"allow_repeated_tool_calls": True})
    kept = call_keys(allowed)
    # The default model at temperature 0 repeats its call: the case this guard exists for.
    assert len(set(kept)) < len(kept), kept
    r = openai_client.chat.completions.create(**REPEAT)
    keys = call_keys(r)
    assert keys and len(set(keys)) == len(keys)
    assert keys == list(dict.fromkeys(kept))[:len(keys)]  # the same calls, up to the first repeat
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.model_extra["localcall"]["repeated_tool_calls_dropped"] == 1
    assert r.usage.completion_tokens < allowed.usage.completion_tokens


def test_a_dropped_repeat_never_reaches_the_stream(openai_client):
    whole = openai_client.chat.completions.create(**REPEAT).choices[0]
    streamed, _, finish = stream_tool_calls(openai_client, **REPEAT)
    assert finish == whole.finish_reason
    assert [(c["name"], c["arguments"]) for c in streamed] == [
        (c.function.name, c.function.arguments) for c in whole.message.tool_calls]


# --- the tool-less last step of an agent loop --------------------------------------------------

def history() -> list[dict]:
    return [{"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21, "sky": "clear"}'}]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_call_syntax_leaks_into_an_answer_without_tools(openai_client, seed):
    """LangChain's and the Agents SDK's loops end with a request that offers no tools."""
    r = openai_client.chat.completions.create(model=MODEL, messages=history(), max_tokens=48, seed=seed,
                                              temperature=0.7)
    choice = r.choices[0]
    assert choice.message.tool_calls is None
    assert "tool_calls" not in choice.message.content and not choice.message.content.lstrip().startswith("{")


# --- prompts refused before tokenizing -------------------------------------------------------

def post(live_server, body: dict) -> httpx2.Response:
    return httpx2.post(live_server.url + "/v1/chat/completions", content=json.dumps(body), timeout=60,
                       headers={"Content-Type": "application/json"})


def test_a_lone_surrogate_is_a_400(live_server):
    # json.dumps writes the surrogate as the escape \ud800, as a hostile client would send it.
    r = post(live_server, {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "\ud800"}]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "messages" and "surrogate" in error["message"]


def test_a_prompt_no_context_could_hold_is_refused_by_its_size(live_server):
    r = post(live_server, {"model": MODEL, "max_tokens": 4,
                           "messages": [{"role": "user", "content": "word " * 1_000_000}]})
    assert r.status_code == 400
    assert "bytes long" in r.json()["error"]["message"]


# --- the grammar engine failing during generation ------------------------------------------------

class ForbiddenTokenAt:
    """The real engine's constraint, handed once, at its n-th step, a token its own mask had just
    forbidden: how an engine bug shows itself. Everything else is the real engine."""

    def __init__(self, hook, step: int):
        self.hook, self.step, self.forbidden = hook, step, None

    def mask(self, logits) -> None:
        self.hook.mask(logits)
        self.forbidden = int(logits.argmin())  # -inf: a token the grammar does not allow here

    def accept(self, token: int):
        self.step -= 1
        return self.hook.accept(self.forbidden if self.step == 0 else token)

    def done(self) -> bool:
        return self.hook.done()


@pytest.fixture(scope="module")
def faulty_server(start_server, default_model):
    from localcall.model import ChatModel
    from localcall.server import ServerSettings

    class FaultyEngine:
        def __init__(self, engine, step: int):
            self.engine, self.step = engine, step

        def compile(self, node):
            self.engine.compile(node)

        def constraint(self, node):
            return ForbiddenTokenAt(self.engine.constraint(node), self.step)

    model = ChatModel(default_model.spec, default_model.backend)
    model._engine = FaultyEngine(default_model.engine, step=4)
    return start_server({MODEL: model}, ServerSettings(default_max_tokens=32))


def test_an_engine_error_before_the_answer_is_a_400(faulty_server):
    r = httpx2.post(faulty_server.url + "/v1/chat/completions", timeout=60, json={
        "model": MODEL, "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER],
        "tool_choice": "required"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "grammar_engine_error" and "generation stopped" in error["message"]


def test_an_engine_error_mid_stream_ends_the_stream_with_an_error(faulty_server):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "A JSON object, please."}],
            "response_format": {"type": "json_object"}, "stream": True}
    with httpx2.stream("POST", faulty_server.url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        events = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == "grammar_engine_error"
    assert any(json.loads(e).get("choices", [{}])[0].get("delta", {}).get("content") for e in events[:-2])


def test_tool_choice_none_with_a_response_format_answers_in_that_format(openai_client):
    """The Agents SDK's output_type after a tool call: tools offered, none chosen, a schema asked."""
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"],
              "additionalProperties": False}
    r = openai_client.chat.completions.create(
        model=MODEL, messages=history(), tools=[WEATHER], tool_choice="none", max_tokens=48, seed=1,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    choice = r.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"
    jsonschema.validate(json.loads(choice.message.content), schema)
