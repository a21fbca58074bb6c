"""JSON schema → constraint: the engines behind grammar-constrained tool calls.

An engine turns a grammar tree (grammars.spec) into a LogitsHook for the generation loop.
ENGINES maps a name to "module:Class"; adding an engine is adding a module with a class that
takes (tokens, control_ids, stop_ids, tokenize) and offers compile(node) and constraint(node);
tokenize turns forced text into tokens that spell exactly its bytes (localcall.vocab).
"""

from __future__ import annotations

import importlib
import os
import weakref

from ..vocab import SpellingTokenizer

ENGINES: dict[str, str] = {
    "llguidance": "localcall.grammars.llguidance_engine:LLGuidanceEngine",
    "outlines": "localcall.grammars.outlines_engine:OutlinesEngine",
}
DEFAULT_ENGINE = os.environ.get("LOCALCALL_ENGINE", "llguidance")


_ENGINES_BUILT: "weakref.WeakKeyDictionary[object, dict[str, object]]" = weakref.WeakKeyDictionary()


def make_engine(name: str, backend):
    """An engine over this backend's vocabulary. Built once per backend and engine name (it
    walks every token): several chat models on one backend share it."""
    built = _ENGINES_BUILT.setdefault(backend, {})
    if name not in built:
        built[name] = _build_engine(name, backend)
    return built[name]


def _build_engine(name: str, backend):
    if name not in ENGINES:
        raise ValueError(f"unknown grammar engine {name!r}; known: {', '.join(ENGINES)}")
    module_name, _, cls_name = ENGINES[name].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ImportError as exc:
        raise RuntimeError(f"grammar engine {name!r} is not installed ({exc}); pip install 'localcall[{name}]'") from exc
    tokens = [backend.token_bytes(i) for i in range(backend.n_vocab)]
    # Forced text is tokenized so that the tokens spell exactly its bytes (vocab.py says why).
    spell = SpellingTokenizer.for_backend(backend, tokens)
    return cls(tokens, backend.special.control_ids, backend.special.stop_ids, spell)
