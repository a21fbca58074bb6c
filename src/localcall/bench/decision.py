"""The call-or-answer decision of one case, measured: the margin grammars.decision records.

Runs the case's prompt up to the decision point only (a few tokens, greedy); the run that
follows reuses the prompt from the backend's cache.
"""

from __future__ import annotations

from ..grammars.decision import DecisionHook, call_opening
from ..runtime.generate import Generation
from .bfcl import tool_set
from .cases import Case

DECISION_TOKENS = 8  # the generic family decides at its 2nd or 3rd token


def decision_margin(model, case: Case) -> float | None:
    """Best answer logit minus best call logit where the turn chooses; None when it never does
    (e.g. a category whose prompt admits only one of the two)."""
    prepared = model.prepare(case.messages, tools=tool_set(case.functions).specs, tool_choice="auto",
                             temperature=0.0, max_tokens=DECISION_TOKENS)
    if prepared.grammar is None:
        return None
    hook = DecisionHook(model.engine.constraint(prepared.grammar),
                        call_opening(model.format.call_syntax(model.backend.special)), model.backend.token_bytes)
    with model.lock:
        for _ in Generation(model.backend, prepared.prompt, prepared.params, hook=hook):
            if not hook.deciding:
                break
    return hook.margin
