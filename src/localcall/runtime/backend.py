"""The protocol every backend implements, and the backend registry.

A backend owns the weights, the tokenizer and the KV cache of one model. It does not
sample: `runtime.generate` drives it one step at a time, so sampling, the logits hook
(grammars), stop strings and cancellation behave the same on every backend.

Adding a backend is adding a module that defines a Backend class and registers it in
BACKENDS under the name models.toml uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


@dataclass(frozen=True)
class SpecialTokens:
    bos_id: int | None
    eos_id: int | None
    bos: str = ""
    eos: str = ""
    # Tokens that end an assistant turn besides eos (<|eot_id|>, <|im_end|>, <end_of_turn>...).
    end_of_turn_ids: frozenset[int] = field(default_factory=frozenset)
    # Every control or user-defined token of the vocabulary by text, for format detection.
    by_text: dict[str, int] = field(default_factory=dict)
    # Control tokens: the model writes them as one token, never spelled out, so grammars refer
    # to them by id. User-defined tokens (Qwen's <tool_call>) are matched as text.
    control_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def stop_ids(self) -> frozenset[int]:
        ids = set(self.end_of_turn_ids)
        if self.eos_id is not None:
            ids.add(self.eos_id)
        return frozenset(ids)


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
