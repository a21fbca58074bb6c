"""The token-level generation loop, the same for every backend.

One step: logits → logits hook (the grammar masks what it forbids) → sample → hook accepts
the token and may hand back tokens it forces (jump-forward) → the backend evaluates the
sampled token and the forced ones as one batch. Stop tokens, stop strings, max_tokens, a full
context and cancellation end the loop between tokens; cancellation also stops the prefill
between two chunks of the prompt.

On a batched sequence (runtime/batch.py) without a hook, the same choices are made in the
batch scheduler's thread instead ("drawn ahead"), so the next token is decoding while this
loop emits the last one; the emitting half of the loop is shared.
"""

from __future__ import annotations

import codecs
import contextlib
import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from .backend import Backend, CacheFull, Cancelled
from .sampling import Sampler, SamplingParams, TokenLogprob


class LogitsHook(Protocol):
    """What the grammar layer plugs into the loop."""

    def mask(self, logits: np.ndarray) -> None:
        """Set the logits of every token the constraint forbids to -inf, in place."""

    def accept(self, token: int) -> list[int]:
        """Advance past a sampled token; return tokens the constraint forces next."""

    def done(self) -> bool:
        """True when the constraint admits nothing more: generation ends here."""


@dataclass
class GeneratedToken:
    token: int
    text: str  # the text this token completes; "" inside a multi-byte character or a held stop prefix
    forced: bool = False
    logprob: TokenLogprob | None = None  # with SamplingParams.logprobs set


class Generation:
    """Iterate it for tokens; afterwards finish_reason and the counts are set.

    finish_reason: "stop" (end of turn, stop string, or the constraint is complete),
    "length" (max_tokens, or the context or the cache shared with other sequences is full), "cancelled" (the cancel event was set).
    """

    def __init__(self, backend: Backend, prompt: list[int], params: SamplingParams,
                 hook: LogitsHook | None = None, cancel: threading.Event | None = None):
        params.validate()
        params.check_vocabulary(backend.n_vocab)
        if len(prompt) >= backend.n_ctx:
            raise ValueError(f"the prompt has {len(prompt)} tokens; the context holds {backend.n_ctx}")
        self.backend, self.prompt, self.params, self.hook = backend, prompt, params, hook
        self.cancel = cancel or threading.Event()
        self.finish_reason: str | None = None
        self.stop_text: str | None = None  # the stop string that ended generation, if any
        self.completion_tokens = 0
        self.forced_tokens = 0
        self.tokens: list[int] = []

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt)

    def __iter__(self) -> Iterator[GeneratedToken]:
        backend, params, hook = self.backend, self.params, self.hook
        sampler = Sampler(params)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopMatcher(params.stop)
        budget = min(params.max_tokens or backend.n_ctx, backend.n_ctx - len(self.prompt))
        try:
            logits = backend.prefill(self.prompt, self.cancel)
        except Cancelled:
            self.finish_reason = "cancelled"
            return
        except CacheFull:
            self.finish_reason = "length"
            return
        # A batched sequence without a constraint is drawn ahead: its scheduler samples each
        # token as soon as the logits are there and evaluates it in the next step, while this
        # thread emits the one before (runtime/batch.py). A constraint needs this thread's
        # grammar state between two tokens, so it goes step by step.
        ahead = hook is None and hasattr(backend, "draw_ahead")
        choices = self._drawn_ahead(logits, sampler, budget) if ahead else self._stepwise(logits, sampler, budget)
        stop_ids = backend.special.stop_ids
        with contextlib.closing(choices):
            for batch, chosen, cut in choices:
                self.completion_tokens += len(batch)
                self.forced_tokens += len(batch) - 1
                self.tokens.extend(batch)
                ended = False
                for i, tok in enumerate(batch):
                    if tok in stop_ids:  # a constraint may force the end-of-turn token itself
                        ended = True
                        break
                    text, hit = stops.push(decoder.decode(backend.token_bytes(tok)))
                    yield GeneratedToken(tok, text, forced=i > 0,
                                         logprob=chosen if i == 0 or chosen is None else sampler.forced(tok))
                    if hit is not None:
                        self.stop_text, ended = hit, True
                        break
                if ended or (hook is not None and hook.done() and not cut):
                    self.finish_reason = "stop"
                    break
                if self.completion_tokens >= budget:
                    self.finish_reason = "length"
                    break
        tail = stops.flush(decoder.decode(b"", final=True)) if self.stop_text is None else ""
        if tail:
            yield GeneratedToken(-1, tail)

    def _stepwise(self, logits: np.ndarray, sampler: Sampler,
                  budget: int) -> Iterator[tuple[list[int], TokenLogprob | None, bool]]:
        """Choices made in this thread: mask, sample, accept (forced tokens follow the sampled
        one), and the backend evaluates them once the caller asks for the next. Yields (tokens,
        the sampled one's logprob, whether max_tokens cut forced text); sets finish_reason where
        the choosing ends the turn."""
        hook, stop_ids = self.hook, self.backend.special.stop_ids
        produced = 0
        while True:
            if self.cancel.is_set():
                self.finish_reason = "cancelled"
                return
            if hook is not None:
                hook.mask(logits)
            token = sampler(logits)
            chosen = sampler.logprob(logits, token) if self.params.logprobs is not None else None
            if token in stop_ids or (hook is not None and not np.isfinite(logits[token])):
                self.finish_reason = "stop"
                return
            forced = hook.accept(token) if hook is not None else []
            batch = [token, *forced][: budget - produced]
            produced += len(batch)
            sampler.observe(batch)
            yield batch, chosen, len(batch) < 1 + len(forced)
            try:
                logits = self.backend.append(batch)
            except CacheFull:  # a shared cache is full (runtime/batch.py): this sequence ends here
                self.finish_reason = "length"
                return

    def _drawn_ahead(self, logits: np.ndarray, sampler: Sampler,
                     budget: int) -> Iterator[tuple[list[int], TokenLogprob | None, bool]]:
        """The same choices without a constraint, drawn by the batch scheduler (`draw_ahead`):
        the first here, the rest in its thread, handed over through a queue."""
        drawn: queue.SimpleQueue = queue.SimpleQueue()  # (token, logprob), then a finish reason or CacheFull
        stop_ids, produced = self.backend.special.stop_ids, 0

        def draw(logits: np.ndarray) -> list[int]:  # one token, or [] and the end
            nonlocal produced
            if self.cancel.is_set():
                drawn.put("cancelled")
                return []
            token = sampler(logits)
            if token in stop_ids:
                drawn.put("stop")
                return []
            drawn.put(([token], sampler.logprob(logits, token) if self.params.logprobs is not None else None))
            produced += 1
            sampler.observe([token])
            return [token] if produced < budget else []

        first = draw(logits)
        if first:
            self.backend.draw_ahead(first, draw, drawn.put)
        try:
            while True:
                item = drawn.get()
                if isinstance(item, tuple):
                    yield (*item, False)
                    continue
                if isinstance(item, CacheFull):  # the shared cache is full: this sequence ends here
                    self.finish_reason = "length"
                elif isinstance(item, BaseException):
                    raise item
                else:
                    self.finish_reason = item
                return
        finally:
            self.backend.stop_drawing()

    def text(self) -> str:
        """Run to the end and return the whole text."""
        return "".join(t.text for t in self)


class StopMatcher:
    """Holds back text that could be the start of a stop string, and reports a full match."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def push(self, text: str) -> tuple[str, str | None]:
        if not self.stops:
            return text, None
        self.pending += text
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                out, self.pending = self.pending[:at], ""
                return out, stop
        keep = max((_overlap(self.pending, s) for s in self.stops), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(self.pending) - keep:]
        return out, None

    def flush(self, text: str) -> str:
        out, self.pending = self.pending + text, ""
        return out


def _overlap(text: str, stop: str) -> int:
    """The length of the longest suffix of text that is a proper prefix of stop."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
