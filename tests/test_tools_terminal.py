"""`localcall chat --tools` in a terminal: calls, arguments and results are shown as they
happen, and high-risk calls ask on the terminal."""

import io

from rich.console import Console
from rich.prompt import Confirm

from localcall.tools import tool
from localcall.tools.builtin import calculator
from localcall.tools.terminal import run_chat_with_tools


def console():
    return Console(file=io.StringIO(), width=200, color_system=None)


@tool(risk="high")
def refund(order_id: int) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


def test_shows_calls_and_results(scripted_model, tools_audit):
    model = scripted_model(scripted_model.calls(("calculator", {"expression": "6 * 7"}), ("nope", {})),
                           scripted_model.answer("It is 42."))
    out = console()
    messages = run_chat_with_tools(model, [{"role": "user", "content": "6 times 7?"}], [calculator], out,
                                   audit=tools_audit, temperature=None)
    text = out.file.getvalue()
    assert '→ calculator({"expression": "6 * 7"})' in text
    assert '← calculator: {"expression": "6 * 7", "result": 42}' in text
    assert "✗ nope [unknown_tool]:" in text
    assert text.rstrip().splitlines()[-2] == "It is 42."
    assert f"tool calls logged in {tools_audit.path}" in text
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]


def test_asks_before_a_high_risk_call(scripted_model, tools_audit, monkeypatch):
    asked = []
    monkeypatch.setattr(Confirm, "ask", classmethod(lambda cls, prompt, **kw: asked.append(prompt) or False))
    model = scripted_model(scripted_model.calls(("refund", {"order_id": 4521})), scripted_model.answer("Not refunded."))
    out = console()
    messages = run_chat_with_tools(model, "refund 4521", [refund], out, audit=tools_audit)
    text = out.file.getvalue()
    assert asked and "refund is marked high-risk" in text and '{"order_id": 4521}' in text
    assert "✗ refund [denied]" in text
    assert "a person declined" in messages[2]["content"]


def test_approval_without_a_terminal_denies(scripted_model, tools_audit, monkeypatch):
    def no_stdin(cls, prompt, **kw):
        raise EOFError

    monkeypatch.setattr(Confirm, "ask", classmethod(no_stdin))
    model = scripted_model(scripted_model.calls(("refund", {"order_id": 1})), scripted_model.answer("ok"))
    messages = run_chat_with_tools(model, "refund 1", [refund], console(), audit=tools_audit)
    assert "the approval step failed (EOFError" in messages[2]["content"]


def test_max_steps_is_reported(scripted_model, tools_audit):
    # Two different calls: identical ones would trip the agent's repeat guard instead.
    steps = [scripted_model.calls(("calculator", {"expression": e})) for e in ("1", "2")]
    out = console()
    run_chat_with_tools(scripted_model(*steps), "loop", [calculator], out, audit=tools_audit, max_steps=2)
    assert "Stopped after 2 steps without a final answer." in out.file.getvalue()


def test_streams_the_real_models_answer_once(default_model, tools_audit):
    """The real default model streams: the answer is printed as it is written, and not a
    second time at the end. (tool_choice none: whatever state the shared model is in, this
    step answers rather than calls.)"""
    out = console()
    messages = run_chat_with_tools(default_model, "What is the capital of France?", [calculator], out,
                                   audit=tools_audit, tool_choice="none", temperature=0, max_tokens=30)
    final = messages[-1]
    assert final["role"] == "assistant" and final["content"].strip()
    assert out.file.getvalue().count(final["content"].strip()) == 1
