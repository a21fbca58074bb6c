"""The call-or-answer decision on the real default model: the answer branch is reachable
beside the tools, the margin is measured where the turn chooses, and answer_bias moves the
choice exactly at that margin."""

from __future__ import annotations

import pytest

from localcall.bench.decision import decision_margin
from localcall.bench.suites import load_suite

GREEDY = {"temperature": 0.0, "max_tokens": 48}


@pytest.fixture(scope="module")
def case():
    return next(c for c in load_suite("localcall") if c.id == "weather_tokyo")


def _chat(model, case, **options):
    from localcall.bench.bfcl import tool_set

    return model.chat(case.messages, tools=tool_set(case.functions).specs, tool_choice="auto", **GREEDY, **options)


def test_the_margin_decides_greedy_turns_and_the_bias_moves_them(default_model, case):
    margin = decision_margin(default_model, case)
    assert isinstance(margin, float)
    plain = _chat(default_model, case)
    assert bool(plain.tool_calls) == (margin < 0)
    # Just past the margin, either way: the bias acts at the decision point and nowhere else.
    answered = _chat(default_model, case, answer_bias=-margin + 0.25)
    assert not answered.tool_calls and answered.content
    called = _chat(default_model, case, answer_bias=-margin - 0.25)
    assert called.tool_calls and called.tool_calls[0].name == "get_weather"


def test_no_decision_where_calls_are_required(default_model, case):
    from localcall.bench.bfcl import tool_set

    forced = default_model.chat(case.messages, tools=tool_set(case.functions).specs, tool_choice="required",
                                answer_bias=100.0, **GREEDY)
    assert forced.tool_calls  # nothing to bias: the grammar admits only calls
