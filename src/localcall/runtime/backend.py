"""The protocol every backend implements, and the backend registry.

A backend owns the weights, the tokenizer and the KV cache of one model. It does not
sample: `runtime.generate` drives it one step at a time, so sampling, the logits hook
(grammars), stop strings and cancellation behave the same on every backend.

Adding a backend is adding a module that defines a Backend class and registers it in
BACKENDS under the name models.toml uses.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np

from ..vocab import SpecialTokens  # noqa: F401  (re-exported: it used to live here)


@dataclass
class EvalStats:
    """Token counts of the last prefill, so tests can prove prefix reuse and cancellation
    without timing. evaluated_tokens grows chunk by chunk: after a cancelled prefill it says how
    far the prompt got."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0


class Cancelled(Exception):
    """Raised by prefill when the cancel event is set between two chunks of the prompt. The KV
    cache then holds the prompt's evaluated prefix, which the next prefill may reuse."""


class CacheFull(Exception):
    """Raised by a batched sequence's append when the KV cache its sequences share has no room
    left for its next tokens: that generation ends with finish_reason "length" (as one whose
    own context is full), the others go on."""


# Prompt tokens per decode call in prefill: cancellation is checked between chunks, so this
# bounds how long a cancelled prefill holds the model. benchmarks/prefill.py measured the cost
# of chunks this small against 512 (see docs/runtime.md).
PREFILL_CHUNK = 128


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

    def prefill(self, tokens: list[int], cancel: threading.Event | None = None) -> np.ndarray:
        """Make the context hold exactly `tokens`, evaluating only what the cache lacks, in
        chunks; raises Cancelled when `cancel` is set between two chunks.

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


def thread_count(configured: int | None = None) -> int:
    """Threads for a backend: $LOCALCALL_THREADS (several processes sharing cores), else the
    model's own setting, else every core this process may use. That default is safe because
    the pools sleep at their barriers (OMP_WAIT_POLICY, runtime/__init__.py); spinning pools on
    busy cores decode a hundredfold slower (docs/runtime.md)."""
    return int(os.environ.get("LOCALCALL_THREADS") or 0) or configured or _usable_cores()


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_fits(cached: int, new: int, n_ctx: int) -> None:
    if cached + new > n_ctx:
        raise ValueError(f"{cached + new} tokens do not fit the context of {n_ctx}")


def prompt_chunks(tokens: list[int], size: int, cancel: threading.Event | None) -> Iterator[list[int]]:
    """`tokens` in chunks of at most `size`, checking `cancel` before each one."""
    for start in range(0, len(tokens), size):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"cancelled after {start} of {len(tokens)} prompt tokens")
        yield tokens[start:start + size]


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


# Generations a backend serves at once when the server is not told (`--parallel`): llama.cpp
# batches 4, as llama-server's slots do by default; the others run one at a time.
DEFAULT_PARALLEL = {"llama.cpp": 4}


def open_backend(name: str, path, *, parallel: int | None = 1, cache_tokens: int | None = None,
                 **options) -> Backend:
    """The backend `name` on the model at `path`; with parallel > 1, a runtime.batch
    BatchedBackend decoding that many sequences together (llama.cpp only), in one cache of
    cache_tokens cells (default: the context). parallel None: DEFAULT_PARALLEL."""
    cls = backend_class(name)
    if parallel is None:
        parallel = DEFAULT_PARALLEL.get(name, 1)
    if parallel <= 1:
        return cls(path, **options)
    if name != "llama.cpp":
        raise ValueError(f"backend {name!r} runs one sequence at a time; parallel slots need llama.cpp")
    from .batch import BatchedBackend

    return BatchedBackend(cls(path, slots=parallel, cache_tokens=cache_tokens, **options))
