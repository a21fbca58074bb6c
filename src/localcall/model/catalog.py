"""What `localcall models` shows: each registry entry, whether its weights are here, and the
chat format it gets (set in models.toml, or detected from its template and vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.registry import ModelSpec, Registry
from ..runtime.sources import converted_dir, is_present, locate


@dataclass
class ModelInfo:
    name: str
    backend: str
    source: str
    present: bool
    chat_format: str  # "hermes (set)", "generic (detected)", or "?" when the weights are absent
    context: str
    default: bool


def describe(spec: ModelSpec, registry: Registry) -> ModelInfo:
    present = is_present(spec)
    fmt = f"{spec.chat_format} (set)" if spec.chat_format else "?"
    context = str(spec.context_length or "?")
    if present and not spec.chat_format:
        try:
            fmt = f"{_detect(spec, registry)} (detected)"
        except Exception as exc:  # a broken file must not break the listing
            fmt = f"? ({type(exc).__name__})"
    return ModelInfo(spec.name, spec.backend, spec.source.describe(), present, fmt, context,
                     spec.name == registry.default)


def _detect(spec: ModelSpec, registry: Registry) -> str:
    from .. import formats

    gguf = locate(spec.source) if spec.source.kind != "convert" else None
    if spec.source.kind == "convert":
        gguf = locate(registry.get(spec.source.value).source)
    if gguf is not None and gguf.is_file():
        from ..runtime.llamacpp import LlamaCppBackend

        vocab = LlamaCppBackend(gguf, vocab_only=True)
        return formats.detect_format(vocab.chat_template, vocab.special)
    from transformers import AutoTokenizer

    from ..vocab import SpecialTokens

    directory = converted_dir(spec) if spec.source.kind == "convert" else locate(spec.source)
    tok = AutoTokenizer.from_pretrained(directory)
    by_text = {t.content: i for i, t in tok.added_tokens_decoder.items()}
    special = SpecialTokens(bos_id=tok.bos_token_id, eos_id=tok.eos_token_id, by_text=by_text,
                            control_ids=frozenset(i for i, t in tok.added_tokens_decoder.items() if t.special))
    template = tok.chat_template if isinstance(tok.chat_template, str) else None
    return formats.detect_format(template, special)
