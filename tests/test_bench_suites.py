"""localcall's own suite is consistent, and suites load and sample as named."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from localcall.bench import bfcl
from localcall.bench.checker import Call, check
from localcall.bench.suites import LOCALCALL_SUITE, load_suite, sample
from localcall.bench.validity import is_valid_call
from localcall.messages import ToolCall


@pytest.fixture(scope="module")
def ours():
    return load_suite("localcall")


def test_our_suite_covers_the_scenarios(ours):
    assert 30 <= len(ours) <= 50
    assert len({c.id for c in ours}) == len(ours)
    assert Counter(c.category for c in ours).keys() == {
        "simple", "multiple", "nested", "parallel", "chained", "recovery", "irrelevance"}
    assert all(c.suite == "localcall" for c in ours)


def _scripted_answers() -> dict[str, list[dict]]:
    """The scripted calls of judged steps: what a right answer to that step is."""
    data = json.loads(LOCALCALL_SUITE.read_text())
    return {f"{entry['id']}:{n}": step["calls"] for entry in data["cases"]
            for n, step in enumerate(entry.get("steps", []), 1) if "ground_truth" in step and "calls" in step}


def test_every_answer_passes_the_checker_and_the_schema(ours, answer_calls):
    scripted = _scripted_answers()
    for case in ours:
        tools = bfcl.tool_set(case.functions)
        calls = answer_calls(case)
        if case.id in scripted:
            calls = [Call(c["name"], c["arguments"]) for c in scripted[case.id]]
        assert check(case.expected, case.functions, calls).passed, case.id
        for call in calls:
            offered = ToolCall("id", bfcl.openai_name(call.name), json.dumps(call.arguments))
            assert is_valid_call(offered, tools), (case.id, call)


def test_chained_steps_carry_the_scripted_history(ours):
    steps = [c for c in ours if c.id.startswith("rag_digest:")]
    assert [c.id for c in steps] == ["rag_digest:1", "rag_digest:2", "rag_digest:3", "rag_digest:4"]
    assert [len(c.messages) for c in steps] == [1, 3, 5, 7]
    last = steps[-1].messages
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
    for call_message, result in zip(last[1::2], last[2::2], strict=True):
        (call,) = call_message["tool_calls"]
        assert re.fullmatch(r"[0-9a-f]{9}", call["id"]) and result["tool_call_id"] == call["id"]
        json.loads(call["function"]["arguments"])
    assert steps[-1].expected.calls == ()  # the last step answers the user
    recovery = next(c for c in ours if c.id == "weather_typo:2")
    assert "location not found" in recovery.messages[-1]["content"] and recovery.expected.no_call_ok


def test_bfcl_suites_and_errors():
    cases = load_suite("bfcl:simple_python, irrelevance")
    assert Counter(c.category for c in cases) == {"simple_python": 400, "irrelevance": 240}
    with pytest.raises(ValueError, match="unknown suite"):
        load_suite("nonsense")
    with pytest.raises(ValueError, match="unknown BFCL category"):
        load_suite("bfcl:simple")


def test_sample_is_seeded_per_category():
    cases = load_suite("bfcl:simple_python,parallel")
    first = sample(cases, 5, seed=1)
    assert Counter(c.category for c in first) == {"simple_python": 5, "parallel": 5}
    assert first == sample(cases, 5, seed=1)
    assert first != sample(cases, 5, seed=2)
    # Adding a category leaves the others' sample as it was.
    more = sample(cases + load_suite("bfcl:multiple"), 5, seed=1)
    assert [c for c in more if c.category != "multiple"] == first
    assert sample(cases, None, seed=1) == cases


def test_an_excluded_seed_gives_a_disjoint_split():
    cases = load_suite("bfcl:simple_python,irrelevance")
    tune = sample(cases, 20, seed=0)
    report = sample(cases, 20, seed=1, exclude_seeds=(0,))
    assert Counter(c.category for c in report) == {"simple_python": 20, "irrelevance": 20}
    assert not {c.id for c in tune} & {c.id for c in report}
    assert report == sample(cases, 20, seed=1, exclude_seeds=(0,))
    # Without the exclusion, two seeds' samples of 20 out of 240 or 400 overlap.
    assert {c.id for c in tune} & {c.id for c in sample(cases, 20, seed=1)}
