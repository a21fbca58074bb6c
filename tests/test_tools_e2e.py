"""The loop end to end with the real default model (SmolLM2-135M on llama.cpp): a forced,
grammar-constrained call to the calculator, executed, fed back, and the model asked again."""

import importlib.util
import json

import pytest

from localcall.tools import Agent
from localcall.tools.builtin import calculator

pytestmark = pytest.mark.skipif(importlib.util.find_spec("localcall.runtime.chat") is None,
                                reason="localcall.runtime.chat (ChatModel) is not there yet")


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
