"""The protocol every backend implements, and the backend registry.

A backend owns the weights, the tokenizer and the KV cache of one model. It does not
sample: `runtime.generate` drives it one step at a time, so sampling, the logits hook
(grammars), stop strings and cancellation behave the same on every backend.

Adding a backend is adding a module that defines a Backend class and registers it in
BACKENDS under the name models.toml uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..vocab import SpecialTokens  # noqa: F401  (re-exported: it used to live here)


@dataclass
class EvalStats:
    """Token counts of the last prefill, so tests can prove prefix reuse without timing."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0


class Backend(Protocol):
    name: str
    model_path: str
    n_vocab: int
    n_ctx: int
    special: SpecialTokens
    chat_template: str | None
    adds_bos: bool  # whether prompts start with bos (when the template does not write it)
    stats: EvalStats

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token contributes to the text (special tokens: their text)."""
        ...

    def prefill(self, tokens: list[int]) -> np.ndarray:
        """Make the context hold exactly `tokens`, evaluating only what the cache lacks.

        Returns the next-token logits (float32, length n_vocab) after the last token.
        """
        ...

    def reset(self) -> None:
        """Forget the KV cache."""
        ...

    def append(self, tokens: list[int]) -> np.ndarray:
        """Evaluate `tokens` after the current context (one batch); return the next logits."""
        ...

    def metadata(self) -> dict[str, str]:
        """Facts for `localcall models` and benchmarks (architecture, quantization, size)."""
        ...


def reusable_prefix(cached: list[int], tokens: list[int]) -> int:
    """How many leading tokens of a new prompt the KV cache already holds, short of the last:
    the last token is always evaluated again, since its logits are what prefill returns."""
    if not tokens:
        raise ValueError("cannot prefill an empty prompt")
    common = 0
    limit = min(len(tokens) - 1, len(cached))
    while common < limit and tokens[common] == cached[common]:
        common += 1
    return common


BackendFactory = Callable[..., Backend]
BACKENDS: dict[str, str] = {
    # name in models.toml → "module:Class", imported only when used (torch is optional).
    "llama.cpp": "localcall.runtime.llamacpp:LlamaCppBackend",
    "transformers": "localcall.runtime.hf:TransformersBackend",
}


def backend_class(name: str):
    import importlib

    module_name, _, cls = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = " (pip install 'localcall[hf]')" if name == "transformers" else ""
        raise RuntimeError(f"backend {name!r} is not available: {exc}{hint}") from exc
    return getattr(module, cls)
