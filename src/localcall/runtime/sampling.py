"""Sampling parameters and a numpy sampler shared by every backend.

Sampling lives above the backends so that a seed, a temperature and a grammar mask give the
same behaviour on llama.cpp and on transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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

    def with_overrides(self, **values) -> "SamplingParams":
        """A copy with every value that is not None replaced."""
        values = {k: v for k, v in values.items() if v is not None}
        if "stop" in values:
            stop = values["stop"]
            values["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
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


class Sampler:
    def __init__(self, params: SamplingParams):
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    def __call__(self, logits: np.ndarray) -> int:
        p = self.params
        if p.temperature <= 1e-5:
            return int(np.argmax(logits))
        if p.top_k and p.top_k < logits.shape[0]:
            candidates = np.argpartition(logits, -p.top_k)[-p.top_k:]
        else:
            candidates = None
        if p.top_p < 1.0:
            candidates = self._top_p(logits, candidates)
        values = logits if candidates is None else logits[candidates]
        scaled = (values - values.max()) / p.temperature
        probs = np.exp(scaled, dtype=np.float64)
        cdf = np.cumsum(probs)
        choice = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        choice = min(choice, values.shape[0] - 1)
        return int(choice if candidates is None else candidates[choice])

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
