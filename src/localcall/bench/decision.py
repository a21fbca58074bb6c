"""The call-or-answer decision of one case, measured, and a bias calibrated on it.

decision_margin runs the case's prompt up to the decision point only (a few tokens, greedy;
the run that follows reuses the prompt from the backend's cache) and returns the margin
grammars.decision records there. Under greedy decoding a turn answers when margin +
answer_bias > 0, so one run's records tell what every bias >= 0 would have scored
(calibrate): the tuning split picks the bias, the report split is then run with it. This is
close, not exact: the run that follows evaluates its prompt partly from the cache, in other
batches, and its logits differ from the probe's by about 0.1 (seen on BFCL irrelevance: 2 of 5
turns decided otherwise than their margin said).
"""

from __future__ import annotations

from ..grammars.decision import DecisionHook, call_opening
from ..runtime.generate import Generation
from .bfcl import CATEGORIES, NO_CALL, tool_set
from .cases import Case, CaseResult

DECISION_TOKENS = 8  # the generic family decides at its 2nd or 3rd token
# Where answering instead of calling passes: BFCL's irrelevance categories, our suite's.
NO_CALL_CATEGORIES = {c for c, mode in CATEGORIES.items() if mode == NO_CALL} | {"irrelevance"}


def decision_margin(model, case: Case) -> float | None:
    """Best answer logit minus best call logit where the turn chooses; None when it never does
    (e.g. a category whose prompt admits only one of the two)."""
    prepared = model.prepare(case.messages, tools=tool_set(case.functions).specs, tool_choice="auto",
                             temperature=0.0, max_tokens=DECISION_TOKENS)
    if prepared.grammar is None:
        return None
    hook = DecisionHook(model.engine.constraint(prepared.grammar),
                        call_opening(model.format.call_syntax(model.backend.special)), model.backend.token_bytes)
    with model._session() as backend:  # what a generation of this model runs on, as chat's do
        for _ in Generation(backend, prepared.prompt, prepared.params, hook=hook):
            if not hook.deciding:
                break
    return hook.margin


def answers_at(record: CaseResult, bias: float) -> bool | None:
    """Whether the greedy turn of `record`, run with answer_bias=bias, answers rather than
    calls; None when the record has no measured decision (the bias changes nothing)."""
    if record.decision_margin is None:
        return None
    return record.decision_margin + bias > 0


def passes_at(record: CaseResult, bias: float) -> bool:
    """The record's verdict had it run greedily with answer_bias=bias >= 0 (the record ran
    with 0). A bias only turns calls into answers; an answer passes exactly where no call is
    wanted, and a turn that still calls is the turn recorded. A negative bias would turn
    answers into calls nobody has seen, so it cannot be read from a record."""
    if bias < 0:
        raise ValueError("only a bias toward answering (>= 0) can be read from records run at 0")
    if not answers_at(record, bias) or answers_at(record, 0.0):
        return record.passed
    return record.category in NO_CALL_CATEGORIES


def calibrate(records: list[CaseResult], biases: list[float]) -> dict[float, dict[str, float]]:
    """Accuracy per category (and "all": the mean over categories) at each bias."""
    categories = sorted({r.category for r in records})
    table = {}
    for bias in biases:
        row = {c: _mean([passes_at(r, bias) for r in records if r.category == c]) for c in categories}
        row["all"] = _mean(list(row.values()))
        table[bias] = row
    return table


def _mean(values) -> float:
    return sum(values) / len(values) if values else 0.0
