"""The loop end to end with the real default model (SmolLM2-135M on llama.cpp): a forced,
grammar-constrained call to the calculator, executed, fed back, and the model asked again."""

import json

from localcall.tools import Agent
from localcall.tools.builtin import calculator


def test_agent_with_the_default_model_and_the_calculator(default_model, tools_audit):
    agent = Agent(default_model, [calculator], audit=tools_audit, max_steps=2)
    result = agent.run([{"role": "system", "content": "Use the calculator for arithmetic."},
                        {"role": "user", "content": "What is 12 * 7?"}],
                       tool_choice="required", temperature=0, seed=0, max_tokens=64)
    first = result.messages[2]
    assert first["role"] == "assistant" and first["tool_calls"]
    # Constrained decoding: every call names the tool and its arguments match the schema,
    # so the pipeline either computed a result or the calculator itself refused the
    # expression; neither the JSON nor the schema failed.
    calls = first["tool_calls"]
    assert all(c["function"]["name"] == "calculator" for c in calls)
    assert all(isinstance(json.loads(c["function"]["arguments"])["expression"], str) for c in calls)
    first_outcomes = result.outcomes[:len(calls)]
    assert all(o.status in ("ok", "error") for o in first_outcomes)
    tool_messages = result.messages[3:3 + len(calls)]
    assert [m["tool_call_id"] for m in tool_messages] == [c["id"] for c in calls]
    for m, o in zip(tool_messages, first_outcomes):
        content = json.loads(m["content"])
        assert ("result" in content) if o.ok else ("error" in content and "suggestion" in content)
    assert result.steps == 2 and result.status in ("final", "max_steps")
    assert len(result.messages) > 3 + len(calls)  # the model was asked again and answered
    assert {e.call_id for e in tools_audit.entries()} >= {c["id"] for c in calls}


def test_streamed_run_gives_each_piece_as_generated(default_model, tools_audit):
    """stream=True on the real model: the call's pieces and the answer's tokens arrive as
    ModelDelta events before their step's ModelReplied, and join to exactly what it replied."""
    from localcall.messages import ContentDelta, ToolCallDelta, ToolCallStart
    from localcall.tools import ModelDelta, ModelReplied, RepeatSkipped, RunFinished

    agent = Agent(default_model, [calculator], audit=tools_audit, max_steps=2)
    events = list(agent.events("What is 12 * 7?", tool_choice="required", temperature=0, seed=0, max_tokens=64,
                               stream=True))
    replies = [e for e in events if isinstance(e, ModelReplied)]
    assert isinstance(events[-1], RunFinished) and 1 <= len(replies) <= 2
    for reply in replies:
        # This reply's pieces: those of its step, after a reply the repeat guard skipped if any.
        before = events[:events.index(reply)]
        skipped = [i for i, e in enumerate(before) if isinstance(e, RepeatSkipped) and e.step == reply.step]
        pieces = [e.event for e in before[skipped[-1] + 1 if skipped else 0:]
                  if isinstance(e, ModelDelta) and e.step == reply.step]
        text = "".join(p.text for p in pieces if isinstance(p, ContentDelta))
        assert text == (reply.result.content or "")
        arguments = "".join(p.arguments for p in pieces if isinstance(p, ToolCallDelta))
        assert arguments == "".join(c.arguments for c in reply.result.tool_calls)
        assert [p.name for p in pieces if isinstance(p, ToolCallStart)] == [c.name for c in reply.result.tool_calls]
    assert replies[0].result.tool_calls  # required: the first step called the calculator


class Recorded:
    """The real model, with the result of each of its streams kept (to see how one ended)."""

    def __init__(self, model):
        self.model, self.results = model, []

    def chat(self, messages, **request):
        return self.model.chat(messages, **request)

    def stream(self, messages, **request):
        from localcall.messages import Finished

        for event in self.model.stream(messages, **request):
            if isinstance(event, Finished):
                self.results.append(event.result)
            yield event


def test_text_streams_token_by_token_and_leaving_early_stops_the_generation(default_model, tools_audit):
    from localcall.messages import ContentDelta
    from localcall.tools import ModelDelta, ModelReplied

    model = Recorded(default_model)
    agent = Agent(model, [calculator], audit=tools_audit)
    # An answer that cannot end before 2,000 tokens, whatever the draw: the schema asks for more.
    endless = {"type": "json_schema", "json_schema": {"name": "story", "schema": {
        "type": "object", "properties": {"story": {"type": "string", "minLength": 20000}}, "required": ["story"]}}}
    events = agent.events("Tell me a long story about a dragon.", tool_choice="none", temperature=0.8, seed=1,
                          max_tokens=2000, stream=True, response_format=endless)
    pieces = 0
    for event in events:
        assert not isinstance(event, ModelReplied)  # the reply is not over: it is still being written
        if isinstance(event, ModelDelta) and isinstance(event.event, ContentDelta):
            pieces += 1
            if pieces == 5:
                break
    events.close()  # the generation is told to stop, and waited for
    [result] = model.results
    assert pieces == 5 and result.finish_reason == "cancelled" and result.usage.completion_tokens < 2000
    assert not default_model.lock.locked()
