"""Server-side tools: the server runs its own tools through the tools pipeline, feeds the
results back, and returns only client tool calls; what ran is in `localcall.executed_tool_calls`
and in the audit log. Permissions are per API key; high-risk tools need a policy."""

from __future__ import annotations

import json
import threading
import time

import httpx2
import openai
import pytest

MODEL = "smollm2-135m"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "The local time in a timezone.",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 20}},
                   "required": ["timezone"], "additionalProperties": False}}}
KEYS = {"alice": "sk-alice", "bob": "sk-bob", "carol": "sk-carol", "dave": "sk-dave"}


def named(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


class Ran(list):
    """What the server's tools were called with, in order."""


@pytest.fixture(scope="module")
def ran():
    return Ran()


@pytest.fixture(scope="module")
def tools_server(start_server, default_model, tmp_path_factory, ran):
    from localcall.server import ServerSettings
    from localcall.server.auth import Auth
    from localcall.server.tools import ServerTools
    from localcall.tools import AuditLog, Policy, tool

    def text_param(name: str) -> dict:
        return {"type": "object", "properties": {name: {"type": "string", "maxLength": 20}},
                "required": [name], "additionalProperties": False}

    def get_weather(city: str) -> dict:
        ran.append(("get_weather", city))
        return {"city": city, "temperature_c": 21, "sky": "clear"}

    def delete_note(title: str) -> str:
        ran.append(("delete_note", title))
        return "deleted"

    def slow_lookup(query: str) -> str:
        LOOKUP_STARTED.set()
        time.sleep(3)
        return "found"

    tools = [tool(get_weather, description="The current weather in a city.", parameters=text_param("city")),
             tool(delete_note, description="Delete a note.", parameters=text_param("title"), risk="high"),
             tool(slow_lookup, description="Look something up.", parameters=text_param("query"))]
    audit = AuditLog(tmp_path_factory.mktemp("audit") / "audit.sqlite3")
    policy = Policy.of({"alice": ["*"], "bob": ["get_weather"], "carol": [], "dave": ["*"]})
    server_tools = ServerTools(tools, audit=audit, policy=policy, high_risk=Policy.of({"alice": ["delete_note"]}),
                               max_steps=3)
    auth = Auth.for_binding("127.0.0.1", [f"{name}={key}" for name, key in KEYS.items()])
    server = start_server({MODEL: default_model},
                          ServerSettings(auth=auth, tools=server_tools, default_max_tokens=48, request_timeout=300))
    server.audit = audit
    yield server
    audit.close()


def client(server, who: str):
    return server.client(api_key=KEYS[who])


def executed(response) -> list[dict]:
    return (response.model_extra.get("localcall") or {}).get("executed_tool_calls", [])


def test_server_tool_runs_and_is_reported(tools_server, ran):
    before = len(ran)
    r = client(tools_server, "alice").chat.completions.create(model=MODEL, messages=ASK, max_tokens=48, seed=1,
                                                              tool_choice=named("get_weather"))
    done = executed(r)
    assert done and done[0]["name"] == "get_weather" and done[0]["status"] == "ok"
    assert json.loads(done[0]["content"])["temperature_c"] == 21
    assert json.loads(done[0]["arguments"])["city"] == ran[before][1]
    assert r.choices[0].message.tool_calls is None  # server calls never reach the client as calls
    assert r.choices[0].finish_reason in ("stop", "length")
    rows = tools_server.audit.entries(done[0]["id"])
    assert rows and rows[0].principal == "alice" and rows[0].outcome == "ok" and rows[0].tool == "get_weather"


def test_server_tool_streamed(tools_server):
    stream = client(tools_server, "alice").chat.completions.create(
        model=MODEL, messages=ASK, tool_choice=named("get_weather"), max_tokens=48, seed=1, stream=True)
    final, live = None, []
    for chunk in stream:
        for choice in chunk.choices:
            assert not choice.delta.tool_calls  # no client tools were offered
            if choice.finish_reason:
                final = chunk
            elif (chunk.model_extra.get("localcall") or {}).get("executed_tool_calls"):
                live.extend(chunk.model_extra["localcall"]["executed_tool_calls"])  # sent as each call ran
    assert final is not None
    done = final.model_extra["localcall"]["executed_tool_calls"]
    assert done[0]["name"] == "get_weather" and done[0]["status"] == "ok"
    assert live == done  # each call once, before the end, as the final chunk lists them


def test_client_tool_goes_back_to_the_client(tools_server):
    for stream in (False, True):
        r = client(tools_server, "alice").chat.completions.create(
            model=MODEL, messages=ASK, tools=[TIME], tool_choice=named("get_time"), max_tokens=48, seed=1,
            stream=stream)
        if stream:
            chunks = list(r)
            calls = [t for c in chunks for ch in c.choices for t in ch.delta.tool_calls or ()]
            assert calls[0].index == 0 and calls[0].function.name == "get_time"
            assert {t.index for t in calls} == set(range(len({t.index for t in calls})))
            assert chunks[-1].choices[0].finish_reason == "tool_calls"
        else:
            calls = r.choices[0].message.tool_calls
            assert calls and all(c.function.name == "get_time" for c in calls)
            assert r.choices[0].finish_reason == "tool_calls" and not executed(r)


def test_server_then_client_tools(tools_server):
    """Step one must call the server tool; later steps may answer, call it again, or call the
    client's tool: whatever comes back, client calls are the client's and executed calls the server's."""
    for seed in (1, 2):
        r = client(tools_server, "alice").chat.completions.create(
            model=MODEL, messages=ASK, tools=[TIME], tool_choice=named("get_weather"), max_tokens=48, seed=seed)
        assert {d["name"] for d in executed(r)} <= {"get_weather", "slow_lookup", "delete_note"}
        assert executed(r)[0]["name"] == "get_weather"
        for call in r.choices[0].message.tool_calls or ():
            assert call.function.name == "get_time"
            json.loads(call.function.arguments)
        if r.choices[0].message.tool_calls:
            assert r.choices[0].finish_reason == "tool_calls"


def test_high_risk_tool_is_denied_without_a_policy(tools_server, ran):
    before = list(ran)
    r = client(tools_server, "dave").chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Delete my shopping note."}],
        tool_choice=named("delete_note"), max_tokens=48, seed=1)
    first = executed(r)[0]
    # Refused by the high-risk policy, and said so: nobody was asked, so nobody "declined".
    assert first["name"] == "delete_note" and first["status"] == "denied_by_policy"
    assert "no person was asked" in first["error"] and "declined" not in first["content"]
    assert not [c for c in ran[len(before):] if c[0] == "delete_note"]  # it never ran
    assert tools_server.audit.entries(first["id"])[0].outcome == "denied_by_policy"


def test_high_risk_tool_runs_when_the_policy_allows(tools_server, ran):
    r = client(tools_server, "alice").chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Delete my shopping note."}],
        tool_choice=named("delete_note"), max_tokens=48, seed=1)
    first = executed(r)[0]
    assert first["status"] == "ok" and ("delete_note", json.loads(first["arguments"])["title"]) in ran


def test_permissions_per_key(tools_server):
    with pytest.raises(openai.BadRequestError):  # bob may not use delete_note: it is not offered to him
        client(tools_server, "bob").chat.completions.create(model=MODEL, messages=ASK,
                                                            tool_choice=named("delete_note"), max_tokens=8)
    r = client(tools_server, "carol").chat.completions.create(model=MODEL, messages=ASK, max_tokens=8)
    assert not executed(r) and r.choices[0].message.tool_calls is None  # no server tools for carol
    with pytest.raises(openai.BadRequestError):
        client(tools_server, "carol").chat.completions.create(model=MODEL, messages=ASK,
                                                              tool_choice=named("get_weather"), max_tokens=8)


def test_client_tool_named_like_a_server_tool(tools_server):
    clash = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client(tools_server, "alice").chat.completions.create(model=MODEL, messages=ASK, tools=[clash], max_tokens=8)
    assert "get_weather" in info.value.message


LOOKUP_STARTED = threading.Event()  # set by slow_lookup when it begins


def test_client_leaving_during_a_server_tool_frees_its_place(tools_server):
    queue = tools_server.app.state.catalog.get(MODEL)
    LOOKUP_STARTED.clear()
    # Streamed, so the response begins at once; the client hangs up while the tool runs.
    # Greedy, with room for the call's markup and a 20-character query spelled a character a
    # token: drawn at random within 32 tokens, the call was once cut short (finish "length").
    with httpx2.stream("POST", tools_server.url + "/v1/chat/completions", timeout=60,
                       headers={"Authorization": f"Bearer {KEYS['alice']}"},
                       json={"model": MODEL, "messages": ASK, "tool_choice": named("slow_lookup"), "max_tokens": 64,
                             "temperature": 0, "stream": True}) as response:
        assert response.status_code == 200
        assert LOOKUP_STARTED.wait(60), "the server never ran slow_lookup"
    # A leaked place never frees; the bound only keeps a failure from hanging the suite (the
    # machine's speed varies too much for a tighter one to mean anything).
    start = time.monotonic()
    while queue.admitted or queue._slot.locked():
        assert time.monotonic() - start < 60, (queue.admitted, queue._slot.locked())
        time.sleep(0.05)
