"""The report: tables (markdown, CSV) and the plot, from a handful of results."""

from __future__ import annotations

import csv

import pytest

from localcall.bench.cases import CaseResult
from localcall.bench.report import summarize, write_report


def _record(id, category, model="tiny", constrained=True, passed=True, error_type=None, latency=1.0,
            completion_tokens=10, valid_calls=1, call_attempts=1, leaked=False) -> CaseResult:
    return CaseResult(suite="localcall", category=category, id=id, model=model, constrained=constrained,
                      passed=passed, error_type=error_type, message="", messages=[], tools=[], content=None,
                      calls=[], malformed=[], finish_reason="stop", valid_calls=valid_calls,
                      call_attempts=call_attempts, leaked=leaked, latency_s=latency,
                      completion_tokens=completion_tokens, model_info="135M, Q4_1")


@pytest.fixture
def records():
    return [
        _record("a", "simple", latency=1.0),
        _record("b", "simple", passed=False, error_type="args:wrong_value", latency=3.0),
        _record("c", "simple", passed=False, error_type="selection:wrong_function", latency=2.0, valid_calls=0),
        _record("d", "irrelevance", call_attempts=0, valid_calls=0, leaked=True, completion_tokens=30),
        _record("a", "simple", constrained=False, passed=False, error_type="selection:no_call", call_attempts=0,
                valid_calls=0, leaked=True),
    ]


def test_rows_per_category_and_model(records):
    rows = {(r.category, r.model): r for r in summarize(records)}
    simple = rows[("simple", "tiny")]
    assert (simple.cases, simple.accuracy, simple.tool_selection, simple.validity) == (3, 1 / 3, 2 / 3, 2 / 3)
    assert (simple.latency_p50_s, simple.tokens_per_s, simple.leakage) == (2.0, 5.0, 0.0)
    irrelevance = rows[("irrelevance", "tiny")]
    assert irrelevance.validity is None and irrelevance.leakage == 1.0
    total = rows[("all", "tiny")]
    assert (total.cases, total.accuracy) == (4, 0.5)
    unconstrained = rows[("simple", "tiny (unconstrained)")]
    assert (unconstrained.accuracy, unconstrained.tool_selection) == (0.0, 0.0)
    assert [r.category for r in summarize(records) if r.model == "tiny"] == ["irrelevance", "simple", "all"]


def test_files(tmp_path, records):
    files = write_report(records, tmp_path / "report")
    with files.csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5
    first = rows[0]
    assert (first["suite"], first["category"], first["model"], first["cases"]) == ("localcall", "irrelevance",
                                                                                  "tiny", "1")
    assert first["validity"] == "" and float(first["leakage"]) == 1.0
    text = files.markdown.read_text()
    assert "| suite | category | tiny | tiny (unconstrained) |" in text
    assert "| localcall | simple | 0.333 | 0.000 |" in text
    assert "| localcall | all | 0.500 | 0.000 |" in text
    assert "| tiny | 135M, Q4_1 |" in text
    assert "| tiny | args:wrong_value | 1 |" in text
    png = files.plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
