"""Sampling parameters and a numpy sampler shared by every backend.

Sampling lives above the backends so that a seed, a temperature and a grammar mask give the
same behaviour on llama.cpp and on transformers.

One step, in order: the grammar masks the logits (in runtime/generate.py) → logit_bias and
the frequency/presence penalties (OpenAI's formula: `logit -= count * frequency + (count > 0)
* presence`, over the tokens generated so far) → logprobs are read here, a log-softmax at
temperature 1 → temperature, top-k, top-p → the draw. So a reported logprob is that of the
distribution the grammar allowed and the penalties shaped, before temperature and truncation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterable

import numpy as np

# Candidates kept before sorting for top-p: sorting all of a 262k vocabulary every step would
# cost milliseconds; the tail beyond the 2,048 likeliest tokens only matters if their mass is
# needed to reach top_p, and then we fall back to the full sort.
_TOP_P_CANDIDATES = 2048


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias) pairs
    logprobs: int | None = None  # None: none reported; k: the chosen token's and the k likeliest
    # Added to the answer's logits where a turn chooses between calling and answering
    # (grammars.decision): > 0 answers more often, for models that call on any question.
    answer_bias: float = 0.0
    # In tool_choice="auto", a first call none of whose values occurs in the conversation is
    # dropped and the turn answers instead (model/grounding.py).
    grounded_calls: bool = False

    def with_overrides(self, **values) -> "SamplingParams":
        """A copy with every value that is not None replaced."""
        values = {k: v for k, v in values.items() if v is not None}
        if "stop" in values:
            stop = values["stop"]
            values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
        if isinstance(values.get("logit_bias"), dict):
            values["logit_bias"] = tuple((int(t), float(b)) for t, b in values["logit_bias"].items())
        return replace(self, **values)

    def validate(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        for name in ("frequency_penalty", "presence_penalty"):
            if not -2 <= getattr(self, name) <= 2:
                raise ValueError(f"{name} must be in [-2, 2]")
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise ValueError("top_logprobs must be in [0, 20]")
        if any(not -100 <= bias <= 100 for _, bias in self.logit_bias):
            raise ValueError("logit_bias values must be in [-100, 100]")

    def check_vocabulary(self, n_vocab: int) -> None:
        """logit_bias may only name tokens the model has."""
        unknown = [t for t, _ in self.logit_bias if not 0 <= t < n_vocab]
        if unknown:
            raise ValueError(f"logit_bias names token {unknown[0]}, which is not in the vocabulary of {n_vocab} tokens")


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token and how likely it was: `top` holds (token, logprob) of the likeliest
    tokens, best first. A token the grammar forced had no alternative: logprob 0."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


class Sampler:
    head_width = 16.0  # Sampler._draw: the head holds logits within this many temperatures of the best

    def __init__(self, params: SamplingParams):
        self.params = params
        self.rng = np.random.default_rng(params.seed)
        self.counts: Counter[int] = Counter()  # generated tokens, for the penalties
        self._bias_ids = np.array([t for t, _ in params.logit_bias], dtype=np.int64)
        self._bias = np.array([b for _, b in params.logit_bias], dtype=np.float32)

    def observe(self, tokens: Iterable[int]) -> None:
        """Count tokens that joined the output (sampled or forced), for the penalties (only
        when there are penalties: this runs on every step)."""
        if self.params.frequency_penalty or self.params.presence_penalty:
            self.counts.update(tokens)

    def adjust(self, logits: np.ndarray) -> None:
        """logit_bias and the penalties, in place (masked tokens stay -inf)."""
        p = self.params
        if self._bias_ids.size:
            logits[self._bias_ids] += self._bias
        if self.counts and (p.frequency_penalty or p.presence_penalty):
            ids = np.fromiter(self.counts.keys(), dtype=np.int64, count=len(self.counts))
            counts = np.fromiter(self.counts.values(), dtype=np.float32, count=len(self.counts))
            logits[ids] -= counts * p.frequency_penalty + p.presence_penalty

    def logprob(self, logits: np.ndarray, token: int) -> TokenLogprob:
        """The log-probability of `token` and the `params.logprobs` likeliest tokens, at temperature 1."""
        finite = logits[np.isfinite(logits)]
        norm = float(finite.max() + np.log(np.exp(finite - finite.max(), dtype=np.float64).sum()))
        k = self.params.logprobs or 0
        top = np.argpartition(logits, -k)[-k:] if 0 < k < logits.shape[0] else np.arange(logits.shape[0] if k else 0)
        top = top[np.argsort(-logits[top], kind="stable")]
        pairs = tuple((int(t), float(logits[t]) - norm) for t in top if np.isfinite(logits[t]))
        return TokenLogprob(token, float(logits[token]) - norm, pairs)

    def forced(self, token: int) -> TokenLogprob:
        return TokenLogprob(token, 0.0, ((token, 0.0),) if self.params.logprobs else ())

    def __call__(self, logits: np.ndarray) -> int:
        p = self.params
        self.adjust(logits)
        if p.temperature <= 1e-5:
            return int(np.argmax(logits))
        if p.top_k and p.top_k < logits.shape[0]:
            candidates = np.argpartition(logits, -p.top_k)[-p.top_k:]
        else:
            candidates = None
        if p.top_p < 1.0:
            candidates = self._top_p(logits, candidates)
        values = logits if candidates is None else logits[candidates]
        choice = self._draw(values)
        return int(choice if candidates is None else candidates[choice])

    def _draw(self, values: np.ndarray) -> int:
        """An index drawn from softmax(values / T), exactly, by rejection from an envelope that
        skips most of the vocabulary. The head, the tokens within `head_width` temperatures of
        the best logit, gets its exact weights (an exp over a few hundred values, not the
        vocabulary's 49k or 262k); each tail token weighs less than e^-head_width, so the tail
        is proposed as a whole with mass n_tail * e^-head_width (~0.5 % of the time on 49k
        tokens), one tail token uniformly, kept with probability weight / e^-head_width, and
        redrawn from the start otherwise. Every token is then drawn in proportion to its
        weight. On the default model's own logits (a story at T = 0.7: a head of 247 tokens at
        the median, 2,984 at most, of 49,152) a draw took 61-65 µs against 418-421 µs for the
        Gumbel-max draw it replaced (benchmarks/RESULTS.md). Masked tokens (-inf) weigh 0 and
        are never drawn."""
        top = values.max()
        if not np.isfinite(top):  # everything masked: generate.py ends the turn on this token
            return int(np.argmax(values))
        scale = 1.0 / self.params.temperature
        cut = top - self.head_width / scale
        head = np.flatnonzero(values >= cut)
        weights = np.exp((values[head] - top) * np.float32(scale), dtype=np.float64)
        ends = np.cumsum(weights)
        bound = float(np.exp(-self.head_width))  # above every tail token's weight
        tail_mass = (values.shape[0] - head.shape[0]) * bound
        rng = self.rng
        while True:
            if rng.random() * (ends[-1] + tail_mass) < ends[-1]:
                at = int(np.searchsorted(ends, rng.random() * ends[-1], side="right"))
                return int(head[min(at, head.shape[0] - 1)])
            token = int(rng.integers(values.shape[0]))
            while values[token] >= cut:  # uniform over the tail
                token = int(rng.integers(values.shape[0]))
            if rng.random() * bound < np.exp((float(values[token]) - top) * scale):
                return token

    def _top_p(self, logits: np.ndarray, candidates: np.ndarray | None) -> np.ndarray:
        pool = candidates if candidates is not None else np.arange(logits.shape[0])
        if pool.shape[0] > _TOP_P_CANDIDATES:
            keep = np.argpartition(logits[pool], -_TOP_P_CANDIDATES)[-_TOP_P_CANDIDATES:]
            short = pool[keep]
        else:
            short = pool
        full = self._softmax(logits[pool])
        order = short[np.argsort(-logits[short], kind="stable")]
        probs = np.exp((logits[order] - logits[pool].max()) / self.params.temperature) / full
        cumulative = np.cumsum(probs)
        if cumulative[-1] < self.params.top_p and short.shape[0] < pool.shape[0]:
            order = pool[np.argsort(-logits[pool], kind="stable")]
            probs = np.exp((logits[order] - logits[order[0]]) / self.params.temperature) / full
            cumulative = np.cumsum(probs)
        cut = int(np.searchsorted(cumulative, self.params.top_p)) + 1
        return order[:cut]

    def _softmax(self, values: np.ndarray) -> float:
        """The normaliser of exp((v - max) / T) over `values`."""
        return float(np.exp((values - values.max()) / self.params.temperature, dtype=np.float64).sum())
