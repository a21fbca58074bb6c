"""The call-or-answer decision, and a bias on it.

In tool_choice="auto" a constrained turn comes, at its start, to a point where the grammar
admits both the opening of a call section and something else: the generic family's
`{"tool_calls"` against `{"response"` (one token decides it), a native family's call token
against any text. DecisionHook wraps the grammar's hook and, at that point, adds `answer_bias`
to the logits of every token that leaves the call opening, so a model that calls on nearly any
question can be calibrated toward answering. It also records the margin it saw there (the best
answer logit minus the best call logit, before the bias): under greedy decoding the turn
answers exactly when margin + bias > 0, which is what a calibration reads.

Only the turn's first decision is biased; a family that may write text and then open a call
(a lazy text trigger) can still call after it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..formats.base import CallSyntax


def call_opening(syntax: CallSyntax) -> str:
    """The text that starts a call section in tool_choice="auto"."""
    return syntax.trigger or syntax.section_start


class DecisionHook:
    """A LogitsHook around another: the same constraint, with the decision biased."""

    def __init__(self, inner, opening: str, token_bytes: Callable[[int], bytes], answer_bias: float = 0.0):
        self.inner = inner
        self.opening = opening.encode("utf-8")
        self.token_bytes = token_bytes
        self.answer_bias = answer_bias
        self.written = b""
        self.margin: float | None = None  # set once the decision point is reached

    @property
    def deciding(self) -> bool:
        """Still before the decision: nothing decided, and all written so far opens a call."""
        return self.margin is None and self.opening.startswith(self.written) and self.written != self.opening

    def mask(self, logits: np.ndarray) -> None:
        self.inner.mask(logits)
        if not self.deciding:
            return
        allowed = np.flatnonzero(np.isfinite(logits))
        toward_call = np.array([self._opens_call(int(t)) for t in allowed], dtype=bool)
        if toward_call.all() or not toward_call.any():
            return  # no choice at this token: the decision comes later (or never)
        call, answer = allowed[toward_call], allowed[~toward_call]
        self.margin = float(logits[answer].max() - logits[call].max())
        logits[answer] += self.answer_bias

    def _opens_call(self, token: int) -> bool:
        text = self.written + self.token_bytes(token)
        return self.opening.startswith(text) or text.startswith(self.opening)

    def accept(self, token: int) -> list[int]:
        forced = self.inner.accept(token)
        if self.deciding:
            self.written += b"".join(self.token_bytes(t) for t in (token, *forced))
        return forced

    def done(self) -> bool:
        return self.inner.done()


def biased(hook, syntax: CallSyntax, backend, answer_bias: float):
    """`hook` with its decision biased by `answer_bias` (backend: for its tokens' bytes); the
    hook itself when there is nothing to do."""
    if hook is None or not answer_bias:
        return hook
    return DecisionHook(hook, call_opening(syntax), backend.token_bytes, answer_bias)
