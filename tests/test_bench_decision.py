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
    # Past the margin, either way: the bias acts at the decision point and nowhere else. (The
    # probe's logits and the run's differ by ~0.1: the run evaluates its prompt from the cache.)
    answered = _chat(default_model, case, answer_bias=-margin + 0.5)
    assert not answered.tool_calls and answered.content
    called = _chat(default_model, case, answer_bias=-margin - 0.5)
    assert called.tool_calls and called.tool_calls[0].name == "get_weather"


def test_no_decision_where_calls_are_required(default_model, case):
    from localcall.bench.bfcl import tool_set

    forced = default_model.chat(case.messages, tools=tool_set(case.functions).specs, tool_choice="required",
                                answer_bias=100.0, **GREEDY)
    assert forced.tool_calls  # nothing to bias: the grammar admits only calls


def _record(category: str, passed: bool, margin: float | None):
    from localcall.bench.cases import CaseResult

    return CaseResult(suite="bfcl", category=category, id=f"{category}_{margin}", model="m", constrained=True,
                      passed=passed, error_type=None if passed else "selection:x", message="", messages=[],
                      tools=[], content=None, calls=[], malformed=[], finish_reason="stop", valid_calls=0,
                      call_attempts=0, leaked=False, latency_s=0.0, decision_margin=margin)


def test_calibration_reads_each_bias_from_the_margins():
    from localcall.bench.decision import calibrate, passes_at

    records = [_record("irrelevance", False, -1.0), _record("irrelevance", False, -3.0),
               _record("irrelevance", True, 0.5), _record("simple_python", True, -2.0),
               _record("simple_python", False, -0.5), _record("simple_python", True, None)]
    table = calibrate(records, [0.0, 1.5, 2.5])
    assert table[0.0] == {"irrelevance": 1 / 3, "simple_python": 2 / 3, "all": 0.5}
    # 1.5 turns the calls at -1.0 and -0.5 into answers: one irrelevance case passes, one
    # simple case that failed anyway still fails.
    assert table[1.5] == {"irrelevance": 2 / 3, "simple_python": 2 / 3, "all": 2 / 3}
    # 2.5 also turns the right call at -2.0 into an answer: the simple case is lost.
    assert table[2.5] == {"irrelevance": 2 / 3, "simple_python": 1 / 3, "all": 0.5}
    with pytest.raises(ValueError, match=">= 0"):
        passes_at(records[0], -1.0)
