"""Forced text is tokenized into tokens that spell exactly its bytes, on real vocabularies:
SentencePiece with the space prefix (Llama 2 / Mistral 7B, Phi-3) and without it, byte-level
BPE (Llama 3, Qwen2) and Gemma 4's 262k vocabulary. The vocabularies are llama.cpp's own test
files from the llama-cpp-python source archive, loaded as they are (vocab_only)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from fixtures.real_gguf import Model, models_dir, real_gguf_path
from localcall.runtime.llamacpp import LlamaCppBackend
from localcall.vocab import SpellingTokenizer

VOCABS = ["llama-spm", "llama-spm-no-prefix", "phi-3", "llama-bpe", "qwen2", "gemma-4"]
FORCED = ['[{"name": "get_weather", "arguments": {"city": "', "[", "\n", "{", '"}]', " ", "  x\n\n",
          "<tool_call>\n{\"name\": \"", "é😀", "[TOOL_CALLS]"]


@pytest.fixture(scope="module", params=VOCABS)
def vocab(request):
    if request.param == "llama-spm-no-prefix":  # as Mistral's newer SentencePiece GGUFs set it
        path = real_gguf_path(Model("llama-spm", None, add_space_prefix=False))
    else:
        path = models_dir() / f"ggml-vocab-{request.param}.gguf"
    backend = LlamaCppBackend(path, vocab_only=True)
    tokens = [backend.token_bytes(i) for i in range(backend.n_vocab)]
    return request.param, backend, tokens, SpellingTokenizer.for_backend(backend, tokens)


def spelled(tokens, ids) -> bytes:
    return b"".join(tokens[i] for i in ids)


def test_forced_text_is_spelled_exactly(vocab):
    _, _, tokens, spell = vocab
    for text in FORCED:
        assert spelled(tokens, spell(text)) == text.encode(), text


def test_a_prefix_space_vocabulary_needs_it(vocab):
    """The bug this fixes: a SentencePiece tokenizer that adds the word-prefix space spells
    "[" as " [", and the grammar engine rejects its own forced tokens."""
    name, backend, tokens, spell = vocab
    plain = spelled(tokens, backend.tokenize("[", special=False))
    assert plain == (b" [" if name in ("llama-spm", "phi-3") else b"[")
    assert spelled(tokens, spell("[")) == b"["
    # Where the plain tokenizer already spells the text, the spelling is the tokenizer's own.
    if plain == b"[":
        assert spell(FORCED[0]) == backend.tokenize(FORCED[0], special=False)


def test_control_tokens_are_never_used_to_spell_text(vocab):
    _, backend, _, spell = vocab
    assert not set(spell("[TOOL_CALLS]<|im_end|></s><s>")) & backend.special.control_ids


def test_a_partial_character_is_spelled_from_byte_tokens(vocab):
    _, _, tokens, spell = vocab
    data = "é".encode()[:1] + b"x"
    assert spelled(tokens, spell(data)) == data


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=24))
def test_any_text_is_spelled_exactly(vocab, text):
    _, _, tokens, spell = vocab
    assert spelled(tokens, spell(text)) == text.encode()
