"""The agent loop against a scripted model: transcript order, concurrency of parallel calls,
max_steps, permission scoping of the offered tools, client-tool passthrough, events."""

import asyncio
import json
import threading

import pytest

from localcall.messages import ToolSpec, Usage
from localcall.tools import (Agent, CallFinished, CallStarted, ModelReplied, Policy, RunFinished,
                             StepStarted, tool)


@tool
def get_weather(city: str) -> dict:
    """Weather in a city."""
    return {"city": city, "temp": {"Tokyo": 22, "London": 14}.get(city, 18)}


@tool
def get_time(city: str) -> str:
    """Local time in a city."""
    return "12:00"


def test_transcript_order_and_ids(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_weather", {"city": "Tokyo"}), ("get_time", {"city": "Tokyo"})),
                           scripted_model.answer("22 degrees at noon."))
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tokyo?"}]
    result = Agent(model, [get_weather, get_time], audit=tools_audit).run(messages)
    assert result.status == "final" and result.content == "22 degrees at noon." and result.steps == 2
    roles = [m["role"] for m in result.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assistant = result.messages[2]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert [m["tool_call_id"] for m in result.messages[3:5]] == ids
    assert json.loads(result.messages[3]["content"]) == {"city": "Tokyo", "temp": 22}
    assert result.messages[4]["content"] == "12:00"
    assert result.new_messages == result.messages[2:] and messages == result.messages[:2]  # input untouched
    # The second request carried the whole transcript so far, the assistant message first.
    assert model.requests[1]["messages"] == result.messages[:5]
    assert model.requests[0]["tools"] == ["get_weather", "get_time"]


def test_errors_go_back_to_the_model_and_the_loop_goes_on(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_weather", '{"city": '), ("nope", {})),
                           scripted_model.calls(("get_weather", {"city": "London"})),
                           scripted_model.answer("14 degrees."))
    result = Agent(model, [get_weather], audit=tools_audit).run("London?")
    assert result.status == "final" and result.content == "14 degrees."
    first, second, third = (json.loads(m["content"]) for m in result.messages if m["role"] == "tool")
    assert "not valid JSON" in first["error"] and "suggestion" in first
    assert first["suggestion"].endswith("get_weather takes: city (string, required)")
    assert second["error"] == "there is no tool named 'nope'"
    assert third == {"city": "London", "temp": 14}
    assert [o.status for o in result.outcomes] == ["invalid_arguments", "unknown_tool", "ok"]


def test_parallel_sync_calls_overlap(scripted_model, tools_audit):
    """Both calls must be inside the tool at once to pass the barrier; run one after the
    other, the first would wait alone and break it."""
    barrier = threading.Barrier(2, timeout=10)
    log = []

    @tool(timeout=20)
    def meet(who: str) -> str:
        """Meet."""
        log.append(("in", who))
        barrier.wait()
        log.append(("out", who))
        return who

    model = scripted_model(scripted_model.calls(("meet", {"who": "a"}), ("meet", {"who": "b"})),
                           scripted_model.answer("done"))
    result = Agent(model, [meet], audit=tools_audit).run("go")
    assert [o.status for o in result.outcomes] == ["ok", "ok"]
    assert {e for e, _ in log[:2]} == {"in"}  # both entered before either left


def test_parallel_async_calls_overlap_and_keep_call_order(scripted_model, tools_audit):
    """The first call can only finish after the second has started and finished, so the
    calls overlap and complete in reverse; the tool messages still follow call order."""
    second_done = asyncio.Event()

    @tool(timeout=10)
    async def step(n: int) -> int:
        """Step."""
        if n == 1:
            await second_done.wait()
        else:
            second_done.set()
        return n

    model = scripted_model(scripted_model.calls(("step", {"n": 1}), ("step", {"n": 2})),
                           scripted_model.answer("done"))
    agent = Agent(model, [step], audit=tools_audit)
    events = list(agent.events("go"))
    finished = [e.call.arguments for e in events if isinstance(e, CallFinished)]
    assert finished == ['{"n": 2}', '{"n": 1}']  # completion order
    result = events[-1].result
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["1", "2"]  # call order
    assert [m["tool_call_id"] for m in result.messages if m["role"] == "tool"] == ["call_step_0", "call_step_1"]


def test_event_stream(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_weather", {"city": "Tokyo"})), scripted_model.answer("22."))
    events = list(Agent(model, [get_weather], audit=tools_audit).events("Tokyo?"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["StepStarted", "ModelReplied", "CallStarted", "CallFinished",
                     "StepStarted", "ModelReplied", "RunFinished"]
    assert isinstance(events[2], CallStarted) and events[2].call.name == "get_weather" and events[2].index == 0
    assert events[3].outcome.value == {"city": "Tokyo", "temp": 22}
    assert isinstance(events[-1], RunFinished) and events[-1].result.content == "22."


def test_max_steps_is_a_clear_outcome(scripted_model, tools_audit):
    # Different calls each step (identical ones would trip the repeat guard instead).
    model = scripted_model(*(scripted_model.calls(("get_time", {"city": c})) for c in ("Paris", "Oslo", "Rome")))
    result = Agent(model, [get_time], audit=tools_audit, max_steps=3).run("loop")
    assert result.status == "max_steps" and result.steps == 3 and len(model.requests) == 3
    assert result.messages[-1]["role"] == "tool"  # the last step's calls were run and answered
    assert len(result.outcomes) == 3 and len(tools_audit.entries()) == 3


def test_tool_choice_applies_to_the_first_step_only(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_time", {"city": "Oslo"})), scripted_model.answer("noon"))
    Agent(model, [get_time], audit=tools_audit).run("time?", tool_choice="required", temperature=0, seed=1)
    assert [r["tool_choice"] for r in model.requests] == ["required", "auto"]
    assert model.requests[1]["options"] == {"temperature": 0, "seed": 1}


def test_usage_is_summed(scripted_model, tools_audit):
    first = scripted_model.calls(("get_time", {"city": "Oslo"}))
    first.usage = Usage(10, 5, 2, 1)
    last = scripted_model.answer("noon")
    last.usage = Usage(20, 3, 12, 4)
    result = Agent(scripted_model(first, last), [get_time], audit=tools_audit).run("time?")
    assert result.usage == Usage(30, 8, 14, 5)


def test_permission_scoping_hides_and_refuses(scripted_model, tools_audit):
    ran = []

    @tool
    def delete_account(customer_id: str) -> str:
        """Delete an account."""
        ran.append(customer_id)
        return "deleted"

    policy = Policy.of({"support": ["get_*"], "admin": ["*"]})
    # The model calls the hidden tool anyway (it guessed the name).
    model = scripted_model(scripted_model.calls(("delete_account", {"customer_id": "c1"})),
                           scripted_model.answer("I cannot."))
    agent = Agent(model, [get_weather, delete_account], policy=policy, audit=tools_audit)
    result = agent.run("delete c1", principal="support")
    assert model.requests[0]["tools"] == ["get_weather"]  # never shown
    assert result.outcomes[0].status == "refused" and ran == []
    model = scripted_model(scripted_model.calls(("delete_account", {"customer_id": "c1"})),
                           scripted_model.answer("Deleted."))
    agent = Agent(model, [get_weather, delete_account], policy=policy, audit=tools_audit)
    result = agent.run("delete c1", principal="admin")
    assert model.requests[0]["tools"] == ["get_weather", "delete_account"]
    assert result.outcomes[0].ok and ran == ["c1"]


def test_tool_choice_must_name_an_offered_tool(scripted_model, tools_audit):
    policy = Policy.of(default=["get_time"])
    agent = Agent(scripted_model(), [get_weather, get_time], policy=policy, audit=tools_audit)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    with pytest.raises(ValueError, match="not available"):
        agent.run("x", tool_choice=choice)
    with pytest.raises(ValueError, match="no tool is available"):
        Agent(scripted_model(), [], audit=tools_audit).run("x", tool_choice="required")


def test_client_tools_stop_the_loop_and_come_back(scripted_model, tools_audit):
    """The server's hook: client-defined tools are offered, not executed. A turn calling a
    server tool and a client tool runs the server's and hands the client's back."""
    send_email = ToolSpec("send_email", "Send an email.", {"type": "object", "properties": {"to": {"type": "string"}}})
    model = scripted_model(scripted_model.calls(("get_weather", {"city": "Tokyo"}), ("send_email", {"to": "a@b.c"})))
    result = Agent(model, [get_weather], audit=tools_audit).run("mail me Tokyo's weather", client_tools=[send_email])
    assert model.requests[0]["tools"] == ["get_weather", "send_email"]
    assert result.status == "client_tool_calls"
    assert [c.name for c in result.pending_calls] == ["send_email"]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool"]
    assert result.messages[-1]["tool_call_id"] == "call_get_weather_0"
    assert [e.tool for e in tools_audit.entries()] == ["get_weather"]  # the client's call is not ours to log


def test_client_tools_cannot_shadow_server_tools(scripted_model, tools_audit):
    agent = Agent(scripted_model(), [get_weather], audit=tools_audit)
    with pytest.raises(ValueError, match="offered twice"):
        agent.run("x", client_tools=[get_weather.spec()])


def test_async_api(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_time", {"city": "Oslo"})), scripted_model.answer("noon"))
    agent = Agent(model, [get_time], audit=tools_audit)

    async def main():
        with pytest.raises(RuntimeError, match="use arun"):
            agent.run("x")
        return await agent.arun("time?")

    assert asyncio.run(main()).content == "noon"


def test_stopping_the_event_stream_early(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_time", {"city": "Oslo"})), scripted_model.answer("noon"))
    stream = Agent(model, [get_time], audit=tools_audit).events("time?")
    assert isinstance(next(stream), StepStarted) and isinstance(next(stream), ModelReplied)
    stream.close()  # no hang, no error; the model is not asked again
    assert len(model.requests) == 1


def test_plain_functions_are_accepted_as_tools(scripted_model, tools_audit):
    def double(x: int) -> int:
        """Double a number."""
        return 2 * x

    model = scripted_model(scripted_model.calls(("double", {"x": 4})), scripted_model.answer("8"))
    result = Agent(model, [double], audit=tools_audit).run("double 4")
    assert result.outcomes[0].value == 8


def test_default_audit_location(monkeypatch, tmp_path, scripted_model):
    monkeypatch.setenv("LOCALCALL_AUDIT_DB", str(tmp_path / "here.sqlite3"))
    agent = Agent(scripted_model(scripted_model.answer("hi")), [get_time])
    assert agent.executor.audit.path == tmp_path / "here.sqlite3"
    agent.executor.audit.close()


def test_cancelling_the_run_mid_call_cancels_the_call(scripted_model, tools_audit):
    cancelled = []

    async def main():
        started = asyncio.Event()

        @tool(timeout=60)
        async def slow() -> str:
            """Slow."""
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return "late"

        stream = Agent(scripted_model(scripted_model.calls(("slow", {}))), [slow], audit=tools_audit).astream("go")
        assert [type(await stream.__anext__()).__name__ for _ in range(3)] == [
            "StepStarted", "ModelReplied", "CallStarted"]
        waiting = asyncio.ensure_future(stream.__anext__())
        await started.wait()  # the call is running now
        waiting.cancel()  # e.g. the HTTP client went away
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await stream.aclose()

    asyncio.run(main())
    assert cancelled == [True]


def test_a_failing_model_is_not_hidden(scripted_model, tools_audit):
    def crash(messages):
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        Agent(scripted_model(crash), [get_time], audit=tools_audit).run("x")


def test_a_repeated_identical_call_asks_for_the_answer_instead(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_weather", {"city": "Tokyo"})),
                           scripted_model.calls(("get_weather", '{ "city":"Tokyo" }')),  # same call, other spacing
                           scripted_model.answer("22 degrees."))
    result = Agent(model, [get_weather], audit=tools_audit).run("Tokyo?")
    assert result.status == "final" and result.content == "22 degrees."
    assert len(result.outcomes) == 1  # executed once
    assert [r["tool_choice"] for r in model.requests] == ["auto", "auto", "none"]
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert len(tools_audit.entries()) == 1


def test_a_new_call_after_an_answered_one_still_runs(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("get_weather", {"city": "Tokyo"})),
                           scripted_model.calls(("get_weather", {"city": "Tokyo"}), ("get_time", {"city": "Tokyo"})),
                           scripted_model.answer("22 at noon."))
    result = Agent(model, [get_weather, get_time], audit=tools_audit).run("Tokyo?")
    assert result.status == "final" and len(result.outcomes) == 3
    assert [r["tool_choice"] for r in model.requests] == ["auto", "auto", "auto"]
